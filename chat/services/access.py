"""Who may send a chat message: the writer role and the per-user message rate."""

from accounts.throttles import rate_limit_check
from config.exceptions import (
    PermissionDeniedError,
)
from core import policies
from core.actor import Actor


def require_writer(actor: Actor) -> None:
    if not policies.can_write(actor):
        raise PermissionDeniedError("Your role (viewer) can read chats but not send messages.")


def chat_message_rate_check(*, actor: Actor) -> None:
    """Count one chat message against the user's ``chat_message`` rate (429 ``RATE_LIMITED``).

    One counter per user in the cache, shared by every door that sends a message (REST,
    WebSocket) and by the REST throttle of the model-calling API doors (same key).

    Not counted is not allowed: a cache (Redis) outage propagates as itself, so each door
    answers it as an outage - 503 on REST, an error frame and close 4503 on the socket."""
    rate_limit_check(scope="chat_message", ident=str(actor.user_id))
