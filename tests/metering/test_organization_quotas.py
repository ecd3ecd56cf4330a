"""Organization budgets and member limits, held by the same reservation as the user's own."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections

from core.actor import Actor
from metering.models import (
    OrganizationQuota,
    OrganizationQuotaCounter,
    Quota,
    QuotaCounter,
    QuotaReservation,
    ReservationStatus,
)
from metering.quotas import (
    QuotaExceededError,
    organization_quota_status,
    quota_release,
    quota_reservations_expire,
    quota_reserve,
    quota_settle,
    quota_status,
)
from metering.selectors import usage_summary
from tenants.models import Membership
from tests.metering.orgs import MEMBER, actor_in, organization_with

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
BIG = 10**9


def _roomy(*users) -> None:
    """Own limits far above the organization's, so only the organization's can refuse."""
    for user in users:
        Quota.objects.create(user=user, daily_tokens=BIG, monthly_tokens=BIG, max_concurrent=100)


def _spend(organization, user, tokens: int) -> None:
    """Reserve and settle ``tokens`` (a finished call) for ``user`` in ``organization``."""
    quota_settle(
        reservation_id=quota_reserve(actor=actor_in(organization, user), estimate=tokens),
        tokens=tokens,
    )


def _counter(organization, user=None, period="day"):
    return OrganizationQuotaCounter.objects.get(organization=organization, user=user, period=period)


def _held(counter) -> tuple[int, int]:
    return counter.used_tokens, counter.reserved_tokens


def test_organization_budget_refuses_once_the_total_is_used(settings):
    organization, (alice, bob) = organization_with(MEMBER)
    _roomy(alice, bob)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 1000}
    )
    with time_machine.travel(NOON, tick=False):
        _spend(organization, alice, 600)
        _spend(organization, bob, 300)
        with pytest.raises(QuotaExceededError) as exc:
            # Bob has used 300 of his own billions: the organization's 1000 refuse.
            quota_reserve(actor=actor_in(organization, bob), estimate=200)
    details = exc.value.details
    assert exc.value.status_code == 429 and exc.value.error_code == "QUOTA_EXCEEDED"
    assert (details["scope"], details["period"]) == ("organization", "day")
    assert details["reason"] == "organization_daily_tokens"
    assert (details["limit"], details["used"], details["requested"]) == (1000, 900, 200)
    assert details["resets_at"] == "2026-03-11T00:00:00+00:00"
    assert exc.value.headers["Retry-After"] == str(12 * 3600)
    # Nothing stayed held on any row, and each member is far under their own limit.
    assert _held(_counter(organization)) == (900, 0)
    assert _held(_counter(organization, bob)) == (300, 0)
    assert QuotaCounter.objects.get(user=bob, period="day").reserved_tokens == 0
    assert QuotaReservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 0


def test_monthly_organization_budget_names_the_month():
    organization, (alice,) = organization_with()
    _roomy(alice)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 900, "monthly_tokens": 1000}
    )
    with time_machine.travel(NOON, tick=False):
        _spend(organization, alice, 800)
    with (
        time_machine.travel(NOON + dt.timedelta(days=1), tick=False),
        pytest.raises(QuotaExceededError) as exc,
    ):
        quota_reserve(actor=actor_in(organization, alice), estimate=300)
    assert (exc.value.details["scope"], exc.value.details["period"]) == ("organization", "month")
    assert exc.value.details["resets_at"] == "2026-04-01T00:00:00+00:00"


def test_member_limit_refuses_one_member_while_others_continue():
    organization, (alice, bob) = organization_with(MEMBER)
    _roomy(alice, bob)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 10_000, "member_daily_tokens": 500}
    )
    with time_machine.travel(NOON, tick=False):
        _spend(organization, alice, 400)
        with pytest.raises(QuotaExceededError) as exc:
            quota_reserve(actor=actor_in(organization, alice), estimate=200)
        assert (exc.value.details["scope"], exc.value.details["period"]) == ("member", "day")
        assert exc.value.details["reason"] == "member_daily_tokens"
        assert (exc.value.details["limit"], exc.value.details["used"]) == (500, 400)
        # Bob's own member limit is untouched by Alice's use.
        held = quota_reserve(actor=actor_in(organization, bob), estimate=450)
    assert _held(_counter(organization, bob)) == (0, 450)
    assert _held(_counter(organization)) == (400, 450)
    quota_release(reservation_id=held)


def test_the_member_limit_is_per_organization():
    """The same person in two organizations: each counts their use inside it only."""
    first, (alice,) = organization_with(name="First")
    second, _ = organization_with(name="Second")
    Membership.objects.create(organization=second, user=alice, role=MEMBER)
    _roomy(alice)
    for organization in (first, second):
        OrganizationQuota.objects.update_or_create(
            organization=organization, defaults={"member_daily_tokens": 500}
        )
    with time_machine.travel(NOON, tick=False):
        _spend(first, alice, 500)
        with pytest.raises(QuotaExceededError):
            quota_reserve(actor=actor_in(first, alice), estimate=1)
        _spend(second, alice, 500)
    assert _held(_counter(first, alice)) == _held(_counter(second, alice)) == (500, 0)
    # The user's own counter sees both.
    assert QuotaCounter.objects.get(user=alice, period="day").used_tokens == 1000


def test_the_users_own_limit_still_applies_inside_an_organization():
    organization, (alice,) = organization_with()
    Quota.objects.create(user=alice, daily_tokens=100, monthly_tokens=BIG, max_concurrent=5)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 10_000}
    )
    with time_machine.travel(NOON, tick=False), pytest.raises(QuotaExceededError) as exc:
        quota_reserve(actor=actor_in(organization, alice), estimate=200)
    assert (exc.value.details["scope"], exc.value.details["reason"]) == ("user", "daily_tokens")


def test_settle_and_release_update_every_counter_of_the_reservation():
    organization, (alice,) = organization_with()
    _roomy(alice)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 5000, "member_monthly_tokens": 5000}
    )
    with time_machine.travel(NOON, tick=False):
        first = quota_reserve(actor=actor_in(organization, alice), estimate=300)
        reservation = QuotaReservation.objects.get(pk=first)
        assert reservation.organization_id == organization.pk
        rows = [
            QuotaCounter.objects.get(user=alice, period="day"),
            QuotaCounter.objects.get(user=alice, period="month"),
            _counter(organization, alice, "day"),
            _counter(organization, alice, "month"),
            _counter(organization, None, "day"),
            _counter(organization, None, "month"),
        ]
        assert [_held(row) for row in rows] == [(0, 300)] * 6
        assert quota_settle(reservation_id=first, tokens=120) is True
        assert quota_settle(reservation_id=first, tokens=120) is False  # exactly once
        second = quota_reserve(actor=actor_in(organization, alice), estimate=700)
        assert quota_release(reservation_id=second) is True
        for row in rows:
            row.refresh_from_db()
        assert [_held(row) for row in rows] == [(120, 0)] * 6


def test_a_reservation_outside_any_organization_holds_only_the_users_rows():
    _, (alice,) = organization_with()
    quota_settle(reservation_id=quota_reserve(actor=Actor(user=alice), estimate=50), tokens=50)
    assert QuotaCounter.objects.get(user=alice, period="day").used_tokens == 50
    assert not OrganizationQuotaCounter.objects.exists()


def test_a_budget_set_mid_period_counts_what_was_already_used():
    organization, (alice,) = organization_with()
    _roomy(alice)
    with time_machine.travel(NOON, tick=False):
        _spend(organization, alice, 800)
        OrganizationQuota.objects.update_or_create(
            organization=organization, defaults={"daily_tokens": 1000}
        )
        with pytest.raises(QuotaExceededError) as exc:
            quota_reserve(actor=actor_in(organization, alice), estimate=300)
    assert exc.value.details["scope"] == "organization"


def test_stale_reservations_are_swept_and_status_is_a_pure_read(settings):
    settings.QUOTA_RESERVATION_TTL = 60
    organization, (alice, bob) = organization_with(MEMBER)
    _roomy(alice, bob)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 1000}
    )
    with time_machine.travel(NOON, tick=False):
        stale = quota_reserve(actor=actor_in(organization, alice), estimate=900)  # worker died
    with time_machine.travel(NOON + dt.timedelta(seconds=61), tick=False):
        actor = actor_in(organization, bob)
        # Reading the usage writes nothing, and does not show the dead worker's tokens as held.
        summary = usage_summary(actor=actor)
        budget = summary["organization_quota"]["organization"]["daily"]
        assert (budget["reserved"], budget["remaining"]) == (0, 1000)
        assert quota_status(user=alice)["running"] == 0
        assert QuotaReservation.objects.get(pk=stale).status == ReservationStatus.ACTIVE
        assert _counter(organization).reserved_tokens == 900
        # Another member's stale reservation is the sweep's to release.
        assert quota_reservations_expire() == 1
        quota_release(reservation_id=quota_reserve(actor=actor, estimate=900))
    assert QuotaReservation.objects.get(pk=stale).status == ReservationStatus.EXPIRED
    assert _held(_counter(organization)) == (0, 0)
    assert _held(_counter(organization, alice)) == (0, 0)


def test_own_stale_reservation_is_expired_by_the_next_refused_reservation(settings):
    settings.QUOTA_RESERVATION_TTL = 60
    organization, (alice,) = organization_with()
    _roomy(alice)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 1000}
    )
    with time_machine.travel(NOON, tick=False):
        stale = quota_reserve(actor=actor_in(organization, alice), estimate=900)
    with time_machine.travel(NOON + dt.timedelta(seconds=61), tick=False):
        quota_release(
            reservation_id=quota_reserve(actor=actor_in(organization, alice), estimate=900)
        )
    assert QuotaReservation.objects.get(pk=stale).status == ReservationStatus.EXPIRED
    assert _held(_counter(organization)) == (0, 0)


def test_organization_quota_status_shows_member_and_total():
    organization, (alice, bob) = organization_with(MEMBER)
    _roomy(alice, bob)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 1000, "member_daily_tokens": 400}
    )
    with time_machine.travel(NOON, tick=False):
        _spend(organization, alice, 100)
        held = quota_reserve(actor=actor_in(organization, bob), estimate=50)
        status = organization_quota_status(organization_id=organization.pk, user_id=bob.pk)
    assert status["organization"]["daily"] == {
        "limit": 1000,
        "used": 100,
        "reserved": 50,
        "remaining": 850,
        "resets_at": dt.datetime(2026, 3, 11, tzinfo=dt.UTC),
    }
    assert status["member"]["daily"]["remaining"] == 350
    assert status["member"]["monthly"]["limit"] is None
    assert status["member"]["monthly"]["remaining"] is None
    quota_release(reservation_id=held)


@pytest.mark.django_db(transaction=True)
def test_parallel_members_never_overrun_the_organization_budget_or_member_limit():
    """Two members, 24 threads with a connection each (parallel workers to the database),
    race for one organization budget; one member also has a member limit."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises writers anyway)")
    organization, (alice, bob) = organization_with(MEMBER)
    _roomy(alice, bob)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 1500, "member_daily_tokens": 1000}
    )
    actors = [actor_in(organization, alice), actor_in(organization, bob)]
    barrier = threading.Barrier(24)
    granted: list[tuple[int, int]] = []
    refused: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        actor = actors[index % 2]
        try:
            barrier.wait()
            for _ in range(2):
                try:
                    reservation = quota_reserve(actor=actor, estimate=100)
                    with lock:
                        granted.append((actor.user.pk, reservation))
                except QuotaExceededError as exc:
                    with lock:
                        refused.append(exc.details["scope"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    per_member = {alice.pk: 0, bob.pk: 0}
    for user_id, _ in granted:
        per_member[user_id] += 100
    assert sum(per_member.values()) == 1500  # 48 asked, exactly the budget granted
    assert max(per_member.values()) <= 1000
    assert set(refused) <= {"organization", "member"} and len(refused) == 48 - 15
    assert _counter(organization).reserved_tokens == 1500
    for _, reservation in granted:
        quota_settle(reservation_id=reservation, tokens=60)
    assert _held(_counter(organization)) == (900, 0)
    assert _counter(organization, alice).used_tokens == per_member[alice.pk] * 60 // 100
