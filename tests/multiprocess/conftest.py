"""Fixtures of the multi-process tests: real servers on a shared PostgreSQL + Redis.

Every test in this folder is marked ``multiprocess`` and needs ``DATABASE_URL`` (PostgreSQL)
and ``REDIS_URL``: without them it is skipped with that reason (CI's second, scaled run sets
both). The servers use a scratch database migrated once per session and a cache prefix of
their own, so they never see the rows or keys of the rest of the suite.

``mp_env`` is the environment to start processes with (see ``procs``: ``start_daphne``,
``start_celery_worker``, ``manage``, ``create_user``); ``mp_db`` runs SQL on the scratch
database; ``mp_user`` is a user with a token; ``asgi_pair`` (per module) and
``asgi_workers`` (per test) are Daphne workers streaming from the fake upstream ``mp_upstream``.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.multiprocess.procs import (
    Proc,
    create_user,
    manage,
    scratch_database,
    start_daphnes,
    start_fake_openai,
)

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.multiprocess)


def _scaled_urls() -> tuple[str, str]:
    database = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if not database.startswith(("postgres://", "postgresql://")) or not redis:
        pytest.skip(
            "multi-process tests need PostgreSQL and Redis shared by real processes: "
            "set DATABASE_URL=postgres://... and REDIS_URL=redis://..."
        )
    return database, redis


@pytest.fixture(scope="session")
def mp_env() -> Iterator[dict[str, str]]:
    """The environment of every process of a test: scratch database, own Redis key prefix."""
    database, redis = _scaled_urls()
    with scratch_database(database) as url:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_", "AI_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DATABASE_URL=url,
            REDIS_URL=redis,
            CACHE_KEY_PREFIX=f"mp{uuid.uuid4().hex[:8]}",
            LOG_LEVEL="WARNING",
            THROTTLE_ANON="100000/min",
            THROTTLE_USER="100000/min",
            CHAT_WS_MAX_FRAMES_PER_MINUTE="100000",
            THROTTLE_CHAT_MESSAGE="100000/min",
            # Fast crash detection, so the tests wait seconds, not minutes.
            CHAT_HEARTBEAT_INTERVAL="0.5",
            CHAT_HEARTBEAT_TTL="3",
            CHAT_STREAM_FOLLOW_IDLE="1",
            CHAT_STREAM_PERSIST_INTERVAL="0.2",
        )
        manage(env, "migrate", "--noinput", timeout=300)
        yield env


class ScratchDatabase:
    """SQL on the servers' database (the test's own assertions)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def one(self, sql: str, *params: Any) -> tuple | None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()

    def all(self, sql: str, *params: Any) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def mp_db(mp_env: dict[str, str]) -> ScratchDatabase:
    return ScratchDatabase(mp_env["DATABASE_URL"])


@pytest.fixture(scope="session")
def mp_upstream() -> Iterator[str]:
    """A fake OpenAI server process for the session (base URL); a chat message
    ``"stream <tokens> <delay>"`` chooses the answer's length and pace."""
    proc, base_url = start_fake_openai()
    yield base_url
    proc.stop()


def openai_env(env: dict[str, str], base_url: str) -> dict[str, str]:
    """``env`` with the OpenAI provider pointed at ``base_url``."""
    return {
        **env,
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_CHAT_MODEL": "fake-chat",
        "AI_RETRY_BACKOFF_BASE": "0.01",
    }


@pytest.fixture(scope="session")
def mp_user(mp_env: dict[str, str]) -> dict[str, Any]:
    """A verified user with a generous quota for the session: ``{"id", "token"}``."""
    return create_user(mp_env)


def _print_logs_on_failure(request: pytest.FixtureRequest, workers: list[Proc]) -> None:
    if getattr(request.node, "rep_call_failed", False):
        for worker in workers:
            print(f"--- {worker.name} (pid {worker.pid}) ---\n{worker.output()}")


@pytest.fixture
def asgi_workers(mp_env: dict[str, str], mp_upstream: str, request: pytest.FixtureRequest):
    """``asgi_workers(count=2)``: Daphne workers of this test only (kill them at will), on the
    shared database and Redis, streaming from the fake upstream."""
    workers: list[Proc] = []

    def start(*, count: int = 2) -> list[Proc]:
        workers.extend(start_daphnes(openai_env(mp_env, mp_upstream), count))
        return workers

    yield start
    _print_logs_on_failure(request, workers)
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def asgi_pair(mp_env: dict[str, str], mp_upstream: str) -> Iterator[list[Proc]]:
    """Two Daphne workers shared by the tests of a module (do not kill them)."""
    workers = start_daphnes(openai_env(mp_env, mp_upstream), 2)
    yield workers
    for worker in workers:
        worker.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
