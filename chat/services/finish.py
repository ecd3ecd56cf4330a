"""The end of a generation: checkpoints of the partial answer and the one final save."""

from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from ai.providers import Usage
from chat.completions.steps import generation_meter
from chat.models import ACTIVE_STATUSES, ChatMessage, MessageStatus
from metering.models import UsageKind
from metering.quotas import quota_release

logger = structlog.get_logger(__name__)


def chat_message_checkpoint(*, message_id: int, response: str, token_ends: list[int]) -> None:
    """Persist the partial answer of a running generation (what ``resume`` replays)."""
    ChatMessage.objects.filter(pk=message_id, status__in=ACTIVE_STATUSES).update(
        response=response, token_ends=token_ends, updated_at=timezone.now()
    )


def chat_message_finish(
    *,
    message_id: int,
    user_id: int,
    status: str,
    response: str,
    token_ends: list[int],
    provider: str,
    model: str,
    usage: Usage,
    latency_ms: int,
    ttft_ms: int | None,
    finish_reason: str | None,
    error: dict[str, Any] | None = None,
    request_id: str | None = None,
    reservation_id: int | None = None,
) -> bool:
    """Save the end of a generation exactly once and meter it. False if it was already saved.

    The quota reservation is settled with the tokens used (a failed call with no answer is
    released: charged nothing) in the same transaction as the usage record."""
    metadata = {
        "provider": provider,
        "model": model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "usage_reported": usage.reported,
        "ttft_ms": ttft_ms,
        "latency_ms": latency_ms,
        "finish_reason": finish_reason,
    }
    if error:
        metadata["error"] = error
    with transaction.atomic():
        # The status guard makes a second finisher (a retry, a duplicate task) a no-op.
        updated = ChatMessage.objects.filter(pk=message_id, status__in=ACTIVE_STATUSES).update(
            status=status,
            response=response,
            token_ends=token_ends,
            metadata=metadata,
            updated_at=timezone.now(),
        )
        if not updated:
            quota_release(reservation_id=reservation_id)
            return False
        generation_meter(
            user_id=user_id,
            reservation_id=reservation_id,
            charge=status != MessageStatus.FAILED,
            provider=provider,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            error_kind=(error or {}).get("kind"),
            kind=UsageKind.CHAT,
            message_id=message_id,
            request_id=request_id,
        )
    logger.info(
        "chat_message_finished",
        message_id=message_id,
        status=status,
        completion_tokens=usage.completion_tokens,
        latency_ms=latency_ms,
    )
    return True
