"""Feedback on an answer: the user's rating of a message."""

from django.utils import timezone

from chat.models import ACTIVE_STATUSES, ChatMessage
from config.exceptions import (
    ConflictError,
)
from core.actor import Actor


def chat_message_feedback_set(
    *, message: ChatMessage, actor: Actor, rating: str, comment: str = "", score: int | None = None
) -> ChatMessage:
    """Thumbs up/down on an answer; the last rating wins. Viewers may rate what they read.

    ``score`` is the 1-5 number of clients that rate with one (kept beside its up/down)."""
    if message.status in ACTIVE_STATUSES:
        raise ConflictError("The answer is still being generated.")
    message.feedback = {
        "rating": rating,
        "comment": comment.strip()[:2000],
        "at": timezone.now().isoformat(),
    }
    if score is not None:
        message.feedback["score"] = score
    message.save(update_fields=["feedback", "updated_at"])
    return message
