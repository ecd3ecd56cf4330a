"""Celery tasks of the documents pipeline.

Embedded mode runs them inline (``CELERY_TASK_ALWAYS_EAGER``); with Redis they run on
workers, each document under a soft and a hard time limit. A worker that starts picks up
documents a crashed worker left behind.
"""

import structlog
from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

logger = structlog.get_logger(__name__)

_SOFT_LIMIT = int(getattr(settings, "INGEST_TIME_LIMIT", 600))


@shared_task(
    name="ai.document_ingest",
    soft_time_limit=_SOFT_LIMIT + 15,
    time_limit=_SOFT_LIMIT + 60,
    acks_late=True,
    ignore_result=True,
)
def document_ingest_task(document_id: str) -> None:
    """Ingest (or resume) one document, then let the engine optimise the collection."""
    from ai.documents.services import document_ingest

    collection = document_ingest(document_id=document_id)
    if collection:
        vector_store_optimize(collection)


def vector_store_optimize(collection: str) -> None:
    """Run the segment optimizer after bulk ingestion, never inside a request: on a worker
    it runs here; in embedded mode (task inline in the upload request) on a background
    thread of the store."""
    from ai.vectorstore import get_vector_store

    store = get_vector_store()
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER and hasattr(store, "optimize_in_background"):
            store.optimize_in_background(collection)
        else:
            store.optimize(collection)
    except Exception:
        logger.exception("vector_store_optimize_failed", collection=collection)


@shared_task(name="ai.documents_resume", ignore_result=True)
def documents_resume_task() -> int:
    from ai.documents.services import documents_resume

    return len(documents_resume())


@worker_ready.connect
def _resume_on_worker_start(**kwargs: object) -> None:
    # Documents another worker was processing when it died are older than the time limit.
    documents_resume_task.delay()
