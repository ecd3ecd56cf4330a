"""What is used, held and left of each budget: reads only (no stale reservation is closed
here; what a dead worker held is left out of the figures instead)."""

import datetime as dt
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from metering.models import QuotaPeriod, QuotaReservation, ReservationStatus
from metering.quotas.limits import (
    organization_limits_for,
    period_resets,
    period_starts,
    quota_limits_for,
    quota_resets,
)
from metering.quotas.reservations import (
    MEMBER,
    ORGANIZATION,
    USER,
    CounterRow,
    _stale_cutoff,
    counters_of,
)


def _stale(reservations: Any, *, day: dt.date, month: dt.date) -> dict[str, int]:
    """Tokens (per period) and count of active reservations past the TTL: a dead worker's,
    released by the next sweep, so not shown as held."""
    return reservations.filter(
        status=ReservationStatus.ACTIVE, created_at__lt=_stale_cutoff()
    ).aggregate(
        day=Coalesce(Sum("tokens", filter=Q(day_start=day)), 0),
        month=Coalesce(Sum("tokens", filter=Q(month_start=month)), 0),
        count=Count("id"),
    )


def _window(
    row: CounterRow,
    *,
    user_id: int,
    organization_id: Any,
    stale: int,
    reset: dt.datetime,
) -> dict[str, Any]:
    counter = (
        counters_of(row, user_id=user_id, organization_id=organization_id)
        .values("used_tokens", "reserved_tokens")
        .first()
    )
    used = counter["used_tokens"] if counter else 0
    reserved = max(0, (counter["reserved_tokens"] if counter else 0) - stale)
    remaining = None if row.limit is None else max(0, row.limit - used - reserved)
    return {
        "limit": row.limit,
        "used": used,
        "reserved": reserved,
        "remaining": remaining,
        "resets_at": reset,
    }


def quota_status(*, user: User) -> dict[str, Any]:
    """The user's own limits (across organizations), what is used and held, what is left and
    when each budget resets."""
    limits = quota_limits_for(user=user)
    now = timezone.now()
    day, month = period_starts(now)
    daily_reset, monthly_reset = quota_resets(now)
    active = QuotaReservation.objects.filter(user_id=user.pk)
    stale = _stale(active, day=day, month=month)
    running = active.filter(status=ReservationStatus.ACTIVE).count() - stale["count"]
    return {
        "daily": _window(
            CounterRow(USER, QuotaPeriod.DAY.value, day, limits.daily_tokens),
            user_id=user.pk,
            organization_id=None,
            stale=stale["day"],
            reset=daily_reset,
        ),
        "monthly": _window(
            CounterRow(USER, QuotaPeriod.MONTH.value, month, limits.monthly_tokens),
            user_id=user.pk,
            organization_id=None,
            stale=stale["month"],
            reset=monthly_reset,
        ),
        "max_concurrent": limits.max_concurrent,
        "running": max(0, running),
    }


def organization_quota_status(*, organization_id: Any, user_id: int | None) -> dict[str, Any]:
    """The organization's budget windows and, with ``user_id``, that member's limit windows
    inside it (``limit``/``remaining`` null where no limit is set)."""
    org = organization_limits_for(organization_id=organization_id)
    now = timezone.now()
    day, month = period_starts(now)
    resets = period_resets(now)
    reservations = QuotaReservation.objects.filter(organization_id=organization_id)

    def windows(scope: str, daily: int | None, monthly: int | None, subject: Any) -> Any:
        stale = _stale(subject, day=day, month=month)
        return {
            name: _window(
                CounterRow(scope, period, start, limit),
                user_id=user_id or 0,
                organization_id=organization_id,
                stale=stale[key],
                reset=resets[period],
            )
            for name, key, period, start, limit in (
                ("daily", "day", QuotaPeriod.DAY.value, day, daily),
                ("monthly", "month", QuotaPeriod.MONTH.value, month, monthly),
            )
        }

    status: dict[str, Any] = {
        "organization_id": organization_id,
        "organization": windows(ORGANIZATION, org.daily_tokens, org.monthly_tokens, reservations),
    }
    if user_id is not None:
        status["member"] = windows(
            MEMBER,
            org.member_daily_tokens,
            org.member_monthly_tokens,
            reservations.filter(user_id=user_id),
        )
    return status
