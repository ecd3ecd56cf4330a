"""Races: parallel refresh of one token, parallel MFA verify with one code (real threads)."""

import threading
import time

import pyotp
import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts import mfa
from core.actor import Actor
from tests.accounts.helpers import MFA_VERIFY, REFRESH, login, totp_now
from tests.factories import DEFAULT_PASSWORD, UserFactory


def _in_memory_sqlite() -> bool:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return database["ENGINE"].endswith("sqlite3") and (
        not database.get("TEST", {}).get("NAME") or "memory" in str(database["TEST"]["NAME"])
    )


pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The SQLite *test* database lives in memory with a shared cache, where a second writer gets
    # "database table is locked" at once instead of waiting (the busy timeout does not apply),
    # so a race there cannot be staged. The file database of embedded mode serialises writers
    # with BEGIN IMMEDIATE; PostgreSQL runs these tests with row locks.
    pytest.mark.skipif(
        "_in_memory_sqlite()", reason="parallel writers need PostgreSQL or a file database"
    ),
]

PARALLEL = 4


def _race(target, count: int = PARALLEL) -> list[int]:
    """Run ``target`` in ``count`` threads released at once; return their status codes."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            status = target()
        except Exception:  # noqa: BLE001 - a crashed request counts as a failure, not a win
            status = 500
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_parallel_refresh_only_one_wins():
    user = UserFactory()
    refresh = login(APIClient(), user.email, DEFAULT_PASSWORD).json()["refresh"]

    def attempt() -> int:
        return APIClient().post(REFRESH, {"refresh": refresh}, format="json").status_code

    statuses = _race(attempt)
    assert len(statuses) == PARALLEL
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}


def test_parallel_mfa_verify_with_one_code_only_one_wins():
    user = UserFactory()
    setup = mfa.mfa_enable(actor=Actor(user=user), password=DEFAULT_PASSWORD)
    totp = pyotp.TOTP(setup["secret"])
    # confirm with the previous step so the current one is still unused
    mfa.mfa_confirm(
        actor=Actor(user=user), code=totp.at(time.time() - 30), password=DEFAULT_PASSWORD
    )
    code = totp_now(setup["secret"])
    tokens = [
        login(APIClient(), user.email, DEFAULT_PASSWORD).json()["mfa_token"]
        for _ in range(PARALLEL)
    ]
    pending = list(tokens)
    take = threading.Lock()

    def attempt() -> int:
        with take:
            token = pending.pop()
        return APIClient().post(MFA_VERIFY, {"mfa_token": token, "code": code}).status_code

    statuses = _race(attempt)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
