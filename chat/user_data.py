"""What the chat app holds of a user, for deleting that user (``accounts.deletion``)."""

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from chat.models import ChatMessage, ChatSession
from chat.selectors import chat_message_list_of_actor, chat_session_list
from core.actor import actor_for_system


def _chats_preview(user: User) -> dict[str, int]:
    actor = actor_for_system(user)
    return {
        "chat sessions": chat_session_list(actor=actor).count(),
        "chat messages": chat_message_list_of_actor(actor=actor).count(),
    }


def _chats_erase(user: User, limit: int) -> int:
    # Sessions with their messages; then any message left in another's session (none today).
    actor = actor_for_system(user)
    ids = list(chat_session_list(actor=actor).values_list("pk", flat=True)[:limit])
    if ids:
        ChatSession.objects.filter(pk__in=ids).delete()
        return len(ids)
    ids = list(chat_message_list_of_actor(actor=actor).values_list("pk", flat=True)[:limit])
    ChatMessage.objects.filter(pk__in=ids).delete()
    return len(ids)


def register() -> None:
    user_data_part_register(
        UserDataPart(key="chats", order=20, preview=_chats_preview, erase=_chats_erase, batch=50)
    )
