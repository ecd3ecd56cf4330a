"""Store an exchange that another door (the OpenAI-compatible API) already metered."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from ai.providers import Usage
from chat.models import ChatMessage, ChatSession, MessageStatus
from chat.services.turns import title_from
from core.actor import Actor


def chat_exchange_store(
    *,
    actor: Actor,
    question: str,
    answer: str,
    model: str,
    usage: Usage,
    sources: list[dict[str, Any]],
) -> ChatSession:
    """Save one finished exchange of another door (the OpenAI API's ``store``) as a session.

    Already metered by its door: this only writes the conversation the caller asked to keep.
    """
    now = timezone.now()
    with transaction.atomic():
        session = ChatSession.objects.create(
            user=actor.user,
            title=title_from(question),
            message_count=1,
            created_at=now,
            updated_at=now,
        )
        ChatMessage.objects.create(
            session=session,
            user=actor.user,
            message=question,
            response=answer,
            token_ends=[len(answer)],
            status=MessageStatus.COMPLETE,
            sources=sources,
            metadata={
                "model": model,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "source": "openai_api",
            },
            timestamp=now,
        )
    return session
