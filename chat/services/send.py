"""The non-streaming chat path: one request, the whole answer."""

import time
from typing import Any

from asgiref.sync import async_to_sync

from ai.errors import provider_error_to_application
from ai.providers import ProviderError, Usage
from ai.providers.tokens import count_message_tokens
from chat.models import ChatMessage, MessageStatus
from chat.services.finish import chat_message_finish
from chat.services.turns import Turn, chat_turn_prepare
from core.actor import Actor
from metering.quotas import quota_release


async def _generate(turn: Turn) -> Any:
    try:
        return await turn.provider.generate_response(turn.prompt, model=turn.model)
    finally:
        await turn.provider.aclose()


def chat_message_send(
    *,
    actor: Actor,
    content: str,
    session_id: Any = None,
    model: str | None = None,
    regenerate: bool = False,
) -> ChatMessage:
    """The non-streaming path: one request, the whole answer (REST ``POST message``, and
    ``POST sessions/{id}/regenerate`` with ``regenerate``)."""
    turn = chat_turn_prepare(
        actor=actor,
        content=content,
        session_id=session_id,
        model=model,
        streaming=False,
        regenerate=regenerate,
    )
    started = time.perf_counter()
    try:
        result = async_to_sync(_generate)(turn)
    except ProviderError as exc:
        latency = int((time.perf_counter() - started) * 1000)
        chat_message_finish(
            message_id=turn.message.pk,
            user_id=actor.user.pk,
            status=MessageStatus.FAILED,
            response="",
            token_ends=[],
            provider=turn.provider.name,
            model=turn.model,
            usage=Usage(count_message_tokens(turn.prompt), 0, reported=False),
            latency_ms=latency,
            ttft_ms=None,
            finish_reason=None,
            error={"kind": exc.kind, "message": str(exc)},
            reservation_id=turn.reservation_id,
        )
        raise provider_error_to_application(exc, message_id=turn.message.pk) from exc
    except BaseException:
        # An unexpected failure: the held tokens go back at once rather than at the TTL.
        quota_release(reservation_id=turn.reservation_id)
        raise
    latency = int((time.perf_counter() - started) * 1000)
    chat_message_finish(
        message_id=turn.message.pk,
        user_id=actor.required_user_id,
        status=MessageStatus.COMPLETE,
        response=result.text,
        token_ends=[len(result.text)] if result.text else [],
        provider=turn.provider.name,
        model=result.model,
        usage=result.usage,
        latency_ms=latency,
        ttft_ms=latency,
        finish_reason=result.finish_reason,
        reservation_id=turn.reservation_id,
    )
    turn.message.refresh_from_db()
    return turn.message
