"""Periodic maintenance without a broker: the embedded mode's timer.

Scaled mode runs ``CELERY_BEAT_SCHEDULE`` with Celery beat (``make beat``). The embedded mode
has no beat and no worker, so the server process runs the same schedule on a daemon thread:
every entry once at start (what a crash left behind is recovered as the server comes up), then
every ``schedule`` seconds. Tasks are looked up by name in Celery's registry, so this module
imports no app.
"""

import threading
import time
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import close_old_connections

logger = structlog.get_logger(__name__)


class EmbeddedScheduler:
    """Runs each entry of ``CELERY_BEAT_SCHEDULE`` in-process at its interval."""

    def __init__(self, schedule: dict[str, dict]) -> None:
        self._entries = {name: _seconds(entry["schedule"]) for name, entry in schedule.items()}
        self._tasks = {name: entry["task"] for name, entry in schedule.items()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loaded = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-periodic", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_due(self, due: dict[str, float], now: float) -> float:
        """Run the entries due at ``now``; return the seconds until the next one."""
        from config.celery import app

        if not self._loaded:
            app.loader.import_default_modules()  # registers every app's tasks
            self._loaded = True
        for name, at in due.items():
            if at > now:
                continue
            close_old_connections()
            try:
                result = app.tasks[self._tasks[name]].apply()
                if result.failed():
                    logger.error("periodic_task_failed", task=name, error=repr(result.result))
            except Exception:
                logger.exception("periodic_task_failed", task=name)
            finally:
                close_old_connections()
            due[name] = now + self._entries[name]
        return max(0.5, min(due.values()) - time.monotonic())

    def _run(self) -> None:
        started = time.monotonic()
        due = dict.fromkeys(self._entries, started)
        while not self._stop.is_set():
            wait = self.run_due(due, time.monotonic())
            self._stop.wait(wait)


def _seconds(schedule: object) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    return float(schedule)  # type: ignore[arg-type]


_scheduler: EmbeddedScheduler | None = None
_lock = threading.Lock()


def embedded_maintenance_start() -> EmbeddedScheduler | None:
    """Start the timer once per process, in embedded mode only (with a broker, beat does it)."""
    global _scheduler
    if not settings.CELERY_TASK_ALWAYS_EAGER or int(settings.MAINTENANCE_INTERVAL) <= 0:
        return None
    with _lock:
        if _scheduler is None:
            _scheduler = EmbeddedScheduler(settings.CELERY_BEAT_SCHEDULE)
            _scheduler.start()
            logger.info("embedded_maintenance_started", tasks=sorted(_scheduler._tasks.values()))
    return _scheduler
