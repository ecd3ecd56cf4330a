"""Recovering answers whose generation died with its worker process.

A generation checkpoints its partial answer (and ``updated_at``) every
``CHAT_STREAM_PERSIST_INTERVAL`` seconds while tokens flow; the provider's request timeout, retries
and idle watchdog bound how long a live generation can go without one. A message still
``pending``/``streaming`` long after that has no generation anywhere: its worker was killed. It is
closed as ``incomplete`` with what was saved, so clients resuming it get an ``end`` frame instead
of waiting forever.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.models import ACTIVE_STATUSES, ChatMessage, MessageStatus

logger = structlog.get_logger(__name__)


def orphan_threshold_seconds() -> float:
    """How long an active message may go without a checkpoint before it counts as orphaned."""
    configured = getattr(settings, "CHAT_ORPHAN_SECONDS", None)
    if configured:
        return float(configured)
    attempts = settings.AI_MAX_RETRIES + 1
    return (
        attempts * (settings.AI_REQUEST_TIMEOUT + settings.AI_RETRY_AFTER_CAP)
        + settings.AI_STREAM_IDLE_TIMEOUT
        + 30.0
    )


def chat_messages_recover_orphans(
    *, message_ids: list[int] | None = None, older_than_seconds: float | None = None
) -> list[int]:
    """Close orphaned active messages as ``incomplete``; return their ids."""
    threshold = older_than_seconds if older_than_seconds is not None else orphan_threshold_seconds()
    cutoff = timezone.now() - timedelta(seconds=threshold)
    recovered: list[int] = []
    with transaction.atomic():
        candidates = ChatMessage.objects.select_for_update().filter(
            status__in=ACTIVE_STATUSES, updated_at__lt=cutoff
        )
        if message_ids is not None:
            candidates = candidates.filter(pk__in=message_ids)
        for message in candidates:
            metadata = dict(message.metadata or {})
            metadata.setdefault("finish_reason", "generation_lost")
            metadata["error"] = {
                "code": "GENERATION_LOST",
                "message": "The server generating this answer stopped; the answer is incomplete.",
            }
            message.status = MessageStatus.INCOMPLETE
            message.metadata = metadata
            message.save(update_fields=["status", "metadata", "updated_at"])
            recovered.append(message.pk)
    if recovered:
        logger.warning("chat_orphans_recovered", message_ids=recovered)
    return recovered
