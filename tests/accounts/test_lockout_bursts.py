"""Parallel bursts against the lock-out and the throttles never pass more than the threshold.

Real threads, released together by a barrier, against the configured cache (LocMemCache in
the embedded run, Redis in the PostgreSQL + Redis run). The password check and the cache
reads are slowed down a little to hold the race window open, as Argon2 and a network round
trip do in production; the assertions count checks, not time.
"""

import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from accounts.throttles import LoginAccountThrottle
from config.exceptions import ApplicationError
from core.actor import actor_from_request
from tests.accounts.helpers import login
from tests.factories import DEFAULT_PASSWORD, UserFactory

BURST = 40


def _burst(target, count: int = BURST) -> list[object]:
    """Run ``target`` in ``count`` threads released at once; return what each returned."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            result = target()
        except Exception as exc:  # noqa: BLE001 - the caller inspects what was raised
            result = exc
        finally:
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


def _slow_password_checks(counter: _Counter):
    """Count every password check and make it take a while (as Argon2 does)."""
    real = User.check_password

    def check(self, raw_password):
        counter.add()
        time.sleep(0.02)
        return real(self, raw_password)

    return mock.patch.object(User, "check_password", check)


def _slow_cache_reads():
    """Every cache read returns a little later, so a read-modify-write races."""
    backend = type(caches["default"])
    real = backend.get

    def get(self, *args, **kwargs):
        value = real(self, *args, **kwargs)
        time.sleep(0.01)  # between the read and whatever the caller writes back
        return value

    return mock.patch.object(backend, "get", get)


def _request(ip: str):
    return RequestFactory().post("/api/v1/auth/login", REMOTE_ADDR=ip)


@pytest.fixture
def clean_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def _user(identifier: str) -> User:
    user = User(pk=4242, email=identifier, username=identifier.split("@")[0], is_active=True)
    user.set_password(DEFAULT_PASSWORD)
    return user


@pytest.fixture
def in_memory_users():
    """Users the service finds without the database (threads cannot see the test's
    transaction), with the audit trail kept out of the threads for the same reason."""
    with (
        mock.patch("accounts.services.login._user_by_identifier", side_effect=_user),
        mock.patch("accounts.services.login.audit_log"),
    ):
        yield


def test_burst_on_one_account_checks_at_most_the_threshold(settings, clean_cache, in_memory_users):
    settings.LOGIN_LOCKOUT_THRESHOLD = 5
    checks = _Counter()

    def attempt():
        return services.auth_login(
            identifier="burst@example.com",
            password="wrong",
            actor=actor_from_request(_request("10.30.0.1")),
        )

    with _slow_password_checks(checks):
        results = _burst(attempt)
    codes = sorted(getattr(r, "error_code", repr(r)) for r in results)
    assert checks.value <= 5, codes
    assert codes.count("INVALID_CREDENTIALS") == checks.value
    assert codes.count("LOCKED_OUT") == BURST - checks.value
    # The account is locked now, for the right password too.
    with pytest.raises(ApplicationError) as raised:
        services.auth_login(
            identifier="burst@example.com",
            password=DEFAULT_PASSWORD,
            actor=actor_from_request(_request("10.9.9.9")),
        )
    assert raised.value.error_code == "LOCKED_OUT"


def test_burst_from_one_ip_checks_at_most_its_threshold(settings, clean_cache, in_memory_users):
    """Many accounts from one IP: the per-IP threshold holds under a burst as well."""
    settings.LOGIN_LOCKOUT_THRESHOLD = 10
    settings.LOGIN_IP_FAILURE_THRESHOLD = 10
    checks = _Counter()
    names = iter(range(BURST))
    take = threading.Lock()

    def attempt():
        with take:
            n = next(names)
        return services.auth_login(
            identifier=f"user{n}@example.com",
            password="wrong",
            actor=actor_from_request(_request("10.31.0.1")),
        )

    with _slow_password_checks(checks):
        results = _burst(attempt)
    codes = [getattr(r, "error_code", repr(r)) for r in results]
    assert checks.value <= 10, codes
    assert set(codes) <= {"INVALID_CREDENTIALS", "SLOW_DOWN", "LOCKED_OUT"}


def test_burst_against_a_drf_rate_passes_at_most_the_rate(settings, clean_cache):
    """``login`` = 5/min per account: 40 parallel requests, 5 admitted (DRF's own
    SimpleRateThrottle lets more through: it reads, appends and writes a list)."""
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login="5/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    def attempt() -> bool:
        request = SimpleNamespace(data={"email": "victim@example.com"}, META={})
        return LoginAccountThrottle().allow_request(request, None)

    with _slow_cache_reads():
        results = _burst(attempt)
    assert results.count(True) == 5, results


def _file_or_server_database() -> bool:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return not (
        database["ENGINE"].endswith("sqlite3")
        and (not database.get("TEST", {}).get("NAME") or "memory" in str(database["TEST"]["NAME"]))
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "not _file_or_server_database()",
    reason="parallel writers (audit rows) need PostgreSQL or a file database",
)
def test_http_burst_on_login_checks_at_most_the_threshold(settings, clean_cache):
    """The whole door: 40 parallel POST /api/v1/auth/login for one account."""
    settings.LOGIN_LOCKOUT_THRESHOLD = 5
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login="1000/min")
    rates["login_ip"] = "1000/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    user = UserFactory()
    checks = _Counter()

    def attempt() -> int:
        return login(APIClient(), user.email, "wrong password").status_code

    with _slow_password_checks(checks):
        statuses = _burst(attempt)
    assert checks.value <= 5, statuses
    assert statuses.count(401) == checks.value
    assert statuses.count(429) == BURST - checks.value
    assert login(APIClient(), user.email, DEFAULT_PASSWORD).status_code == 429
