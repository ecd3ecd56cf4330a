"""The embedded mode's background ingestion: one worker thread in the server process.

Why a thread and not a Celery worker started by ``make run``: the embedded vector engine
(Qdrant Edge) is held by exactly one process, the server; a second process could not open it.
The thread runs the same service as a Celery worker (``document_ingest_next``: fair claim,
heartbeat, bounds), one document at a time, so uploads answer at once and chats stay responsive
while a large file is processed. It dies with the server; what it was doing is resumed by the
sweep (``documents_sweep``) at the next start.
"""

import threading

import structlog
from django.db import close_old_connections, connections

from documents import pipeline

logger = structlog.get_logger(__name__)

# Also look for pending work this often without being woken (documents queued by another door).
IDLE_POLL_SECONDS = 30.0


class EmbeddedIngestWorker:
    """A daemon thread that drains pending documents whenever it is woken."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Start the thread if needed and tell it there is work."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="embedded-ingest", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current document (tests, orderly shutdown)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()
                while not self._stop.is_set():
                    close_old_connections()
                    try:
                        if pipeline.document_ingest_next() is None:
                            break
                    except Exception:
                        # The pipeline fails bad files itself; this is the database going away.
                        logger.exception("embedded_ingest_failed")
                        break
        finally:
            connections.close_all()


_worker = EmbeddedIngestWorker()


def embedded_ingest_worker() -> EmbeddedIngestWorker:
    return _worker
