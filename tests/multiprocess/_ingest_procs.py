"""Real Celery worker processes for the ingestion recovery tests: the environment that points
a child at the test database, and starting/killing the worker with all its pool processes."""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import IO
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"


def run_database_url() -> str:
    """The URL of the database this test run uses: pytest-django's ``test_<name>``, not the
    ``DATABASE_URL`` the run was started with, so the child sees the test's rows."""
    from django.db import connection

    s = connection.settings_dict
    credentials = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        credentials += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or "5432"
    return f"postgres://{credentials}@{host}:{port}/{s['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    """Scaled-mode settings for a child process on the test database and the run's Redis."""
    from django.conf import settings

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "QDRANT_", "DJANGO_", "AI_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_SECRET_KEY="multiprocess-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DATABASE_URL=run_database_url(),
        REDIS_URL=settings.REDIS_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


def unique_queue() -> str:
    # Runs sharing one Redis never take each other's messages.
    return f"test-ingest-{uuid.uuid4().hex[:10]}"


def start_worker(env: dict[str, str], log: IO[bytes], *, beat_schedule: Path | None = None):
    """A Celery worker (prefork, one child) in its own process group."""
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{uuid.uuid4().hex[:8]}@%h",
    ]
    if beat_schedule is not None:
        command += ["-B", "-s", str(beat_schedule)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9 of the worker and its pool children, as an OOM killer or a crash would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM), then kill whatever is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    kill_hard(process)


def wait_for(predicate, *, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
