"""Token quotas: atomic reserve before every model call, settle after, 429 QUOTA_EXCEEDED."""

import datetime as dt
import threading

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.db import connection, connections

from accounts.models import Role
from accounts.tokens import issue_tokens
from chat.models import ChatMessage, ChatSession, MessageStatus
from core.actor import Actor
from metering.models import Quota, QuotaCounter, QuotaReservation, ReservationStatus, UsageRecord
from metering.quotas import (
    QuotaExceededError,
    quota_limits_for,
    quota_release,
    quota_reserve,
    quota_settle,
    quota_status,
)
from tests.accounts.helpers import assert_envelope
from tests.chat.ws import open_socket, until_end
from tests.factories import UserFactory

SEND = "/api/v1/chat/message"
NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _counter(user, period="day"):
    return QuotaCounter.objects.filter(user=user, period=period).order_by("-period_start").first()


# --- limits ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_role_defaults_and_per_field_override(settings, user, viewer_user):
    settings.QUOTA_DEFAULTS = {
        "admin": {"daily_tokens": 9, "monthly_tokens": 99, "max_concurrent": 9},
        "user": {"daily_tokens": 1000, "monthly_tokens": 5000, "max_concurrent": 2},
        "viewer": {"daily_tokens": 0, "monthly_tokens": 0, "max_concurrent": 0},
    }
    limits = quota_limits_for(user=user)
    assert (limits.daily_tokens, limits.monthly_tokens, limits.max_concurrent) == (1000, 5000, 2)
    Quota.objects.create(user=user, daily_tokens=50)  # other fields null = the role default
    limits = quota_limits_for(user=user)
    assert (limits.daily_tokens, limits.monthly_tokens, limits.max_concurrent) == (50, 5000, 2)
    assert quota_limits_for(user=viewer_user).daily_tokens == 0


@pytest.mark.django_db
def test_override_changes_apply_at_once_despite_the_cache(user):
    default = quota_limits_for(user=user).daily_tokens  # caches "no override"
    quota = Quota.objects.create(user=user, daily_tokens=50)
    assert quota_limits_for(user=user).daily_tokens == 50
    quota.daily_tokens = 70
    quota.save()  # what the API and the admin do
    assert quota_limits_for(user=user).daily_tokens == 70
    quota.delete()
    assert quota_limits_for(user=user).daily_tokens == default


@pytest.mark.django_db
def test_reserve_settle_release_bookkeeping(user):
    Quota.objects.create(user=user, daily_tokens=1000, monthly_tokens=1500, max_concurrent=5)
    with time_machine.travel(NOON, tick=False):
        first = quota_reserve(actor=Actor(user=user), estimate=600)
        assert _counter(user).reserved_tokens == 600
        with pytest.raises(QuotaExceededError) as exc:
            quota_reserve(actor=Actor(user=user), estimate=500)  # 600 held + 500 > 1000
        assert exc.value.status_code == 429
        assert exc.value.details["reason"] == "daily_tokens"
        assert (exc.value.details["used"], exc.value.details["requested"]) == (600, 500)
        assert quota_settle(reservation_id=first, tokens=250) is True
        assert quota_settle(reservation_id=first, tokens=250) is False  # settled exactly once
        day = _counter(user)
        assert (day.used_tokens, day.reserved_tokens) == (250, 0)
        assert _counter(user, "month").used_tokens == 250

        second = quota_reserve(actor=Actor(user=user), estimate=700)
        assert quota_release(reservation_id=second) is True
        day = _counter(user)
        assert (day.used_tokens, day.reserved_tokens) == (250, 0)
        status = quota_status(user=user)
        assert status["daily"]["remaining"] == 750
        assert status["monthly"]["remaining"] == 1250
        assert status["daily"]["resets_at"] == dt.datetime(2026, 3, 11, tzinfo=dt.UTC)
        assert status["monthly"]["resets_at"] == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_refusal_holds_nothing_and_names_the_limit_that_refused(user):
    Quota.objects.create(user=user, daily_tokens=1000, monthly_tokens=700, max_concurrent=5)
    with time_machine.travel(NOON, tick=False):
        first = quota_reserve(actor=Actor(user=user), estimate=400)
        # The day still has room, the month does not: nothing stays held on either row.
        with pytest.raises(QuotaExceededError) as exc:
            quota_reserve(actor=Actor(user=user), estimate=400)
        assert exc.value.details["reason"] == "monthly_tokens"
        assert (exc.value.details["used"], exc.value.details["limit"]) == (400, 700)
        assert _counter(user).reserved_tokens == 400
        assert _counter(user, "month").reserved_tokens == 400
        assert QuotaReservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 1
        quota_release(reservation_id=first)
        assert _counter(user).reserved_tokens == _counter(user, "month").reserved_tokens == 0


@pytest.mark.django_db
def test_budget_resets_the_next_day_but_not_the_month(user):
    Quota.objects.create(user=user, daily_tokens=1000, monthly_tokens=1500, max_concurrent=5)
    with time_machine.travel(NOON, tick=False):
        quota_settle(reservation_id=quota_reserve(actor=Actor(user=user), estimate=900), tokens=900)
        with pytest.raises(QuotaExceededError):
            quota_reserve(actor=Actor(user=user), estimate=200)
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        quota_settle(reservation_id=quota_reserve(actor=Actor(user=user), estimate=500), tokens=500)
        with pytest.raises(QuotaExceededError) as exc:
            quota_reserve(actor=Actor(user=user), estimate=200)  # the month: 1400 + 200 > 1500
        assert exc.value.details["reason"] == "monthly_tokens"
        assert exc.value.details["resets_at"] == "2026-04-01T00:00:00+00:00"


@pytest.mark.django_db
def test_stale_reservations_expire(settings, user):
    settings.QUOTA_RESERVATION_TTL = 60
    Quota.objects.create(user=user, max_concurrent=1)
    with time_machine.travel(NOON, tick=False):
        stale = quota_reserve(
            actor=Actor(user=user), estimate=10
        )  # its worker "died": never settled
        with pytest.raises(QuotaExceededError):
            quota_reserve(actor=Actor(user=user), estimate=10)
    with time_machine.travel(NOON + dt.timedelta(seconds=61), tick=False):
        quota_release(reservation_id=quota_reserve(actor=Actor(user=user), estimate=10))
    assert QuotaReservation.objects.get(pk=stale).status == ReservationStatus.EXPIRED
    assert _counter(user).reserved_tokens == 0


# --- REST ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_over_budget_is_429_and_no_model_call(settings, user_client, user):
    settings.AI_MAX_TOKENS = 100
    Quota.objects.create(user=user, daily_tokens=50)
    body = assert_envelope(user_client.post(SEND, {"message": "hello"}), 429, "QUOTA_EXCEEDED")
    assert body["details"]["reason"] == "daily_tokens"
    assert body["details"]["limit"] == 50
    assert "resets_at" in body["details"] and body["details"]["retry_after"] > 0
    # Refused before anything is written: no session, no message, nothing held.
    assert not ChatSession.objects.exists()
    assert not ChatMessage.objects.exists()
    assert not UsageRecord.objects.exists()
    assert not QuotaReservation.objects.exists()


@pytest.mark.django_db
def test_rest_answer_is_charged_its_real_tokens(user_client, user):
    response = user_client.post(SEND, {"message": "hello"})
    assert response.status_code == 200
    record = UsageRecord.objects.get()
    day = _counter(user)
    assert day.used_tokens == record.total_tokens > 0
    assert day.reserved_tokens == 0
    assert QuotaReservation.objects.get().status == ReservationStatus.SETTLED


@pytest.mark.django_db
def test_rest_provider_failure_releases_the_reservation(settings, fake_openai, user_client, user):
    fake_openai.configure(settings, mode="openai")
    settings.AI_MAX_RETRIES = 0
    fake_openai.fail(500)
    assert user_client.post(SEND, {"message": "hello"}).status_code == 502
    day = _counter(user)
    assert (day.used_tokens, day.reserved_tokens) == (0, 0)
    assert QuotaReservation.objects.get().status == ReservationStatus.RELEASED


@pytest.mark.django_db
def test_rest_concurrency_limit(user_client, user):
    Quota.objects.create(user=user, max_concurrent=1)
    held = quota_reserve(actor=Actor(user=user), estimate=10)  # another answer is being generated
    body = assert_envelope(user_client.post(SEND, {"message": "hello"}), 429, "QUOTA_EXCEEDED")
    assert body["details"]["reason"] == "max_concurrent"
    quota_release(reservation_id=held)
    assert user_client.post(SEND, {"message": "hello"}).status_code == 200


@pytest.mark.django_db
def test_viewer_never_reaches_the_quota(viewer_client):
    assert viewer_client.post(SEND, {"message": "hi"}).status_code == 403
    assert not QuotaReservation.objects.exists()


# --- WebSocket -----------------------------------------------------------------------------


@pytest.fixture
def _fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_websocket_over_budget_is_an_error_frame_with_the_same_envelope(
    _fresh_layer, settings, user
):
    settings.AI_MAX_TOKENS = 100
    await database_sync_to_async(Quota.objects.create)(user=user, daily_tokens=50)
    token = await database_sync_to_async(lambda: issue_tokens(user=user)["access"])()
    ws = await open_socket(token)
    await ws.send_json_to({"type": "message", "content": "hello"})
    frame = await ws.receive_json_from(timeout=10)
    await ws.disconnect()
    assert frame["type"] == "error"
    assert frame["code"] == "QUOTA_EXCEEDED" and frame["success"] is False
    assert {"message", "details", "timestamp", "request_id"} <= set(frame)
    assert frame["details"]["reason"] == "daily_tokens" and "resets_at" in frame["details"]
    assert await database_sync_to_async(ChatMessage.objects.count)() == 0


@pytest.mark.django_db(transaction=True)
async def test_websocket_cancelled_answer_is_charged_for_what_was_produced(
    _fresh_layer, settings, fake_openai, user
):
    fake_openai.configure(settings, mode="openai")
    settings.CHAT_STREAM_PERSIST_INTERVAL = 0.05
    fake_openai.script(tokens=400, delay=0.01)
    token = await database_sync_to_async(lambda: issue_tokens(user=user)["access"])()
    ws = await open_socket(token)
    await ws.send_json_to({"type": "message", "content": "go"})
    start = await ws.receive_json_from(timeout=10)
    assert start["type"] == "start"
    for _ in range(4):  # sources, then tokens
        await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"type": "cancel", "message_id": start["message_id"]})
    frames = await until_end(ws)
    await ws.disconnect()
    assert frames[-1]["status"] == "cancelled"

    def check():
        message = ChatMessage.objects.get(pk=start["message_id"])
        assert message.status == MessageStatus.CANCELLED
        record = UsageRecord.objects.get(message_id=message.pk)
        reservation = QuotaReservation.objects.get()
        assert reservation.status == ReservationStatus.SETTLED
        assert reservation.charged_tokens == record.total_tokens
        # Charged what was produced, far less than the 400-token answer that was cut short.
        assert 0 < record.completion_tokens < 400
        day = _counter(user)
        assert (day.used_tokens, day.reserved_tokens) == (record.total_tokens, 0)

    await database_sync_to_async(check)()


# --- parallel requests against PostgreSQL ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_reservations_never_overrun_the_budget():
    """Two workers' worth of concurrency: 24 threads, each with its own database connection
    (what separate worker processes look like to the database), race for one budget."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises writers anyway)")
    user = UserFactory(role=Role.USER)
    Quota.objects.create(user=user, daily_tokens=1000, monthly_tokens=10**6, max_concurrent=100)
    barrier = threading.Barrier(24)
    granted: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            try:
                reservation = quota_reserve(actor=Actor(user=user), estimate=100)
                with lock:
                    granted.append(reservation)
            except QuotaExceededError as exc:
                with lock:
                    refused.append(exc.details["reason"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(granted) == 10 and len(refused) == 14
    assert set(refused) == {"daily_tokens"}
    assert _counter(user).reserved_tokens == 1000

    # Settling in parallel keeps the books exact too.
    def settle(reservation_id: int) -> None:
        try:
            quota_settle(reservation_id=reservation_id, tokens=40)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=settle, args=(r,)) for r in granted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    day = _counter(user)
    assert (day.used_tokens, day.reserved_tokens) == (400, 0)


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_respect_max_concurrent():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    user = UserFactory(role=Role.USER)
    Quota.objects.create(user=user, max_concurrent=3)
    barrier = threading.Barrier(12)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            try:
                reservation = quota_reserve(actor=Actor(user=user), estimate=10)
                with lock:
                    granted.append(reservation)
            except QuotaExceededError:
                pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(granted) == 3
    assert QuotaReservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 3
