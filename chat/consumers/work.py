"""The socket's database work, each call run in a worker thread."""

from typing import Any

import structlog

from accounts.authentication import user_from_access_token
from chat.models import ACTIVE_STATUSES, ChatMessage
from chat.recovery import chat_messages_recover_orphans
from chat.selectors import chat_message_get
from chat.services.turns import Turn, chat_turn_prepare
from core.actor import Actor, actor_from_scope
from tenants.resolution import membership_resolve

logger = structlog.get_logger(__name__)


def get_message(message_id: int) -> ChatMessage:
    return ChatMessage.objects.get(pk=message_id)


def message_settled(message_id: int, actor: Actor | None = None) -> ChatMessage:
    """The message (the actor's when given), closed first if its generation is lost."""
    if actor is not None:
        message = chat_message_get(actor=actor, message_id=message_id)
    else:
        message = get_message(message_id)
    if message.status in ACTIVE_STATUSES:
        try:
            recovered = chat_messages_recover_orphans(message_ids=[message_id])
        except Exception:  # heartbeats unreadable (cache down): follow, look again later
            logger.warning("resume_recovery_failed", message_id=message_id, exc_info=True)
            recovered = []
        if recovered:
            message.refresh_from_db()
    return message


def prepare_turn(
    *,
    scope: dict[str, Any],
    token: str,
    organization_id: Any,
    content: str,
    session_id: int | None,
    model: str | None,
    regenerate: bool = False,
) -> tuple[Any, Turn | None]:
    """Re-validate the token, then plan and store the turn: one thread hop before the model.

    The user row and the membership loaded here are the actor: the current platform and
    organization roles decide, not the token's claim nor the role when the socket opened. A
    refused rule (unverified email, viewer, rate, a membership ended) is an error frame."""
    try:
        user = user_from_access_token(token)
    except Exception:  # noqa: BLE001 - any failure means "not authenticated"
        return None, None
    membership = membership_resolve(user=user, tenant=str(organization_id))
    turn = chat_turn_prepare(
        actor=actor_from_scope(scope, user, membership),
        content=content,
        session_id=session_id,
        model=model,
        streaming=True,
        regenerate=regenerate,
    )
    return user, turn
