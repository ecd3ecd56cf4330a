"""What the chat app holds of a user, for deleting that user (``accounts.deletion``)."""

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from chat.models import ChatMessage, ChatSession


def _chats_preview(user: User) -> dict[str, int]:
    return {
        "chat sessions": ChatSession.objects.filter(user=user).count(),
        "chat messages": ChatMessage.objects.filter(user=user).count(),
    }


def _chats_erase(user: User, limit: int) -> int:
    # Sessions with their messages; then any message left in another's session (none today).
    ids = list(ChatSession.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    if ids:
        ChatSession.objects.filter(pk__in=ids).delete()
        return len(ids)
    ids = list(ChatMessage.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    ChatMessage.objects.filter(pk__in=ids).delete()
    return len(ids)


def register() -> None:
    user_data_part_register(
        UserDataPart(key="chats", order=20, preview=_chats_preview, erase=_chats_erase, batch=50)
    )
