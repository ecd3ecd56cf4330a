"""Generation heartbeats, and recovering answers whose generation died with its worker.

Every process refreshes a short-lived cache key per running generation every
``CHAT_HEARTBEAT_INTERVAL`` seconds (the shared Redis cache in the scaled mode, the process's
own memory in the embedded one). A message still ``pending``/``streaming`` whose key is gone
and that has not been written for ``CHAT_HEARTBEAT_TTL`` seconds (the grace covers the moment
between storing a turn and its first beat) has no generation anywhere: its worker was killed.
Whoever looks at it - a ``resume``, a follower that hears nothing, the periodic sweep
(``chat_recover``), a worker's start - closes it as ``incomplete`` with what was checkpointed,
charges the tokens produced and releases the rest of its quota reservation, exactly once.

``CHAT_ORPHAN_SECONDS`` (derived from the provider timeouts by default) stays as an outer
bound: a message quiet for that long is closed even if something still beats for it.
"""

from collections.abc import Iterable
from datetime import timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from ai.providers import Usage
from ai.providers.tokens import count_tokens
from chat.models import ACTIVE_STATUSES, ChatMessage, MessageStatus
from chat.services.finish import chat_message_finish
from core.tenancy import platform_code

logger = structlog.get_logger(__name__)

GENERATION_LOST = {
    "code": "GENERATION_LOST",
    "kind": "generation_lost",
    "message": "The server generating this answer stopped; the answer is incomplete.",
}
# Messages closed per sweep call (the next call takes the rest).
_SWEEP_BATCH = 200


def heartbeat_key(message_id: int) -> str:
    return f"chat:hb:{message_id}"


def cancel_key(message_id: int) -> str:
    """Cache key that asks the generation of ``message_id`` (on any worker) to stop."""
    return f"chat:cancel:{message_id}"


def heartbeats_refresh(message_ids: Iterable[int]) -> set[int]:
    """Beat for the running ``message_ids``; return those another worker asked to cancel.

    One round trip each way for every generation of the process together.
    """
    ids = list(message_ids)
    if not ids:
        return set()
    ttl = float(settings.CHAT_HEARTBEAT_TTL)
    cache.set_many({heartbeat_key(i): 1 for i in ids}, timeout=ttl)
    asked = cache.get_many([cancel_key(i) for i in ids])
    return {i for i in ids if cancel_key(i) in asked}


def heartbeats_alive(message_ids: Iterable[int]) -> set[int]:
    """Which of ``message_ids`` have a live heartbeat."""
    ids = list(message_ids)
    if not ids:
        return set()
    found = cache.get_many([heartbeat_key(i) for i in ids])
    return {i for i in ids if heartbeat_key(i) in found}


def orphan_threshold_seconds() -> float:
    """Quiet time after which an active message is closed whatever its heartbeat says."""
    configured = getattr(settings, "CHAT_ORPHAN_SECONDS", None)
    if configured:
        return float(configured)
    attempts = settings.AI_MAX_RETRIES + 1
    return (
        attempts * (settings.AI_REQUEST_TIMEOUT + settings.AI_RETRY_AFTER_CAP)
        + settings.AI_STREAM_IDLE_TIMEOUT
        + 30.0
    )


def _close_lost(message: ChatMessage) -> bool:
    """Close one lost generation through the same exactly-once path as a live one."""
    meta = message.metadata or {}
    completion = count_tokens(message.response) if message.response else 0
    prompt = int(meta.get("prompt_tokens") or 0)
    started = message.timestamp or message.updated_at
    return chat_message_finish(
        message_id=message.pk,
        user_id=message.user_id,
        status=MessageStatus.INCOMPLETE,
        response=message.response,
        token_ends=list(message.token_ends or []),
        provider=str(meta.get("provider") or ""),
        model=str(meta.get("model") or ""),
        usage=Usage(prompt, completion, reported=False),
        latency_ms=max(0, int((message.updated_at - started).total_seconds() * 1000)),
        ttft_ms=None,
        finish_reason="generation_lost",
        error=GENERATION_LOST,
        reservation_id=meta.get("reservation_id"),
    )


@platform_code
def chat_messages_recover_orphans(
    *, message_ids: list[int] | None = None, older_than_seconds: float | None = None
) -> list[int]:
    """Close active messages whose generation is gone as ``incomplete``; return their ids.

    Gone means: no heartbeat and not written for ``CHAT_HEARTBEAT_TTL`` seconds, or not
    written for ``older_than_seconds`` (default :func:`orphan_threshold_seconds`) at all. Each
    is settled like a finished answer: the tokens produced are charged, the rest of the quota
    reservation released, a usage record written. The periodic sweep, ``chat_recover``, a
    worker's start and ``resume`` all call this.
    """
    now = timezone.now()
    grace_cutoff = now - timedelta(seconds=float(settings.CHAT_HEARTBEAT_TTL))
    quiet = older_than_seconds if older_than_seconds is not None else orphan_threshold_seconds()
    quiet_cutoff = now - timedelta(seconds=quiet)
    candidates = ChatMessage.objects.filter(status__in=ACTIVE_STATUSES, updated_at__lt=grace_cutoff)
    if message_ids is not None:
        candidates = candidates.filter(pk__in=message_ids)
    rows = list(candidates.order_by("updated_at")[:_SWEEP_BATCH])
    if not rows:
        return []
    alive = heartbeats_alive(m.pk for m in rows)
    recovered = [
        message.pk
        for message in rows
        if (message.pk not in alive or message.updated_at < quiet_cutoff) and _close_lost(message)
    ]
    if recovered:
        logger.warning("chat_orphans_recovered", message_ids=recovered)
    return recovered
