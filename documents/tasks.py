"""Celery tasks of the documents pipeline.

With Redis they run on workers, each ingestion under a soft and a hard time limit and with
``acks_late`` (a worker killed mid-task leaves its message to be redelivered after the broker's
visibility timeout, ``CELERY_VISIBILITY_TIMEOUT``). The embedded mode runs ingestion on a thread
of the server (documents.runner) and the periodic tasks on its timer (config.periodic).
"""

import structlog
from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from documents import pipeline
from documents.dispatch import DOCUMENT_INGEST_TASK, documents_sweep

logger = structlog.get_logger(__name__)

_SOFT_LIMIT = int(getattr(settings, "INGEST_TIME_LIMIT", 600))


@shared_task(
    name=DOCUMENT_INGEST_TASK,
    soft_time_limit=_SOFT_LIMIT + 15,
    time_limit=_SOFT_LIMIT + 60,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def document_ingest_task() -> None:
    """One ticket: claim the fairest pending document and ingest it (a no-op when none is
    left, e.g. a redelivered ticket whose document another worker finished)."""
    pipeline.document_ingest_next()


@shared_task(name="ai.documents_sweep", ignore_result=True)
def documents_sweep_task() -> int:
    """Periodic: queue again documents whose worker died (no heartbeat)."""
    return len(documents_sweep())


@worker_ready.connect
def _sweep_on_worker_start(**kwargs: object) -> None:
    # A worker (re)started after a crash resumes what died with it without waiting for beat.
    documents_sweep_task.delay()
