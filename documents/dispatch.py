"""Handing pending documents to the runner of ``INGEST_RUNNER``, and the sweep that queues
again what a killed worker left behind.

Above :mod:`documents.pipeline` (the work) and :mod:`documents.runner` (the embedded thread).
The Celery task is looked up by its name in Celery's registry: :mod:`documents.tasks` imports
this module for its sweep task, so importing the task here would close a cycle.
"""

import uuid
from datetime import timedelta

import structlog
from celery import current_app
from django.conf import settings
from django.utils import timezone

from core.tenancy import platform_code
from documents.models import Document, DocumentStatus
from documents.pipeline import document_ingest, ingest_stall_seconds
from documents.runner import embedded_ingest_worker

logger = structlog.get_logger(__name__)

# The ingestion ticket's task name (kept from before documents left the ai app: tickets
# queued under it survive a deploy).
DOCUMENT_INGEST_TASK = "ai.document_ingest"


def document_dispatch(*, document_id: uuid.UUID | str | None = None) -> None:
    """Hand pending work to the background runner (``INGEST_RUNNER``); never blocks the caller,
    except ``inline``, which runs ``document_id`` right here (tests)."""
    runner = settings.INGEST_RUNNER
    if runner == "inline":
        if document_id is not None:
            document_ingest(document_id=document_id, optimize=True)
    elif runner == "thread":
        embedded_ingest_worker().wake()
    else:
        # A ticket, not a document: the worker that takes it claims the fairest pending
        # document (document_claim_next), so one user's backlog cannot starve another user.
        current_app.tasks[DOCUMENT_INGEST_TASK].delay()


def _pending_redispatch_seconds() -> int:
    # A queued ticket that a dying worker had taken comes back after the visibility timeout;
    # only a pending document older than that can have lost its ticket (a broker restart).
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return int(options.get("visibility_timeout", 3600)) + 60


_SWEEP_BATCH = 500


@platform_code
def documents_sweep() -> list[uuid.UUID]:
    """The periodic sweep: a ``processing`` document without a heartbeat for
    ``INGEST_STALL_SECONDS`` (its worker was killed) goes back to ``pending`` and is queued
    again - it resumes from its last saved batch; a ``pending`` one nobody took for longer than
    a lost ticket takes to come back gets one more ticket. Returns the documents queued."""
    now = timezone.now()
    stale = now - timedelta(seconds=ingest_stall_seconds())
    queued: list[uuid.UUID] = []
    stalled = Document.objects.filter(status=DocumentStatus.PROCESSING, updated_at__lt=stale)
    for document_id in list(stalled.values_list("pk", flat=True)[:_SWEEP_BATCH]):
        # Conditional: a heartbeat that lands meanwhile keeps the document with its worker.
        if stalled.filter(pk=document_id).update(status=DocumentStatus.PENDING, updated_at=now):
            queued.append(document_id)
    if settings.INGEST_RUNNER == "celery":
        forgotten = Document.objects.filter(
            status=DocumentStatus.PENDING,
            updated_at__lt=now - timedelta(seconds=_pending_redispatch_seconds()),
        )
        for document_id in list(forgotten.values_list("pk", flat=True)[:_SWEEP_BATCH]):
            if forgotten.filter(pk=document_id).update(updated_at=now):
                queued.append(document_id)
    if queued:
        logger.warning("documents_requeued", document_ids=[str(pk) for pk in queued])
    if settings.INGEST_RUNNER == "thread":
        document_dispatch()  # the thread also picks up pending work it has not seen
    else:
        for document_id in queued:
            document_dispatch(document_id=document_id)
    return queued
