"""Reserve before a model call, settle or release after: the counters of every subject.

One reservation holds the estimate on up to six counter rows, in this order everywhere
(reserve, settle, release, expire), so two writers never wait on each other in a cycle:

1. the user's own day and month rows (``QuotaCounter``, limits of ``quota_limits_for``);
2. the member's day and month rows inside the organization (``OrganizationQuotaCounter``
   with the user, limits ``member_daily_tokens`` / ``member_monthly_tokens``);
3. the organization's day and month rows (``OrganizationQuotaCounter`` without a user,
   limits ``daily_tokens`` / ``monthly_tokens``).

The member and organization rows are kept for every call made in an organization, limited
or not, so a limit set in the middle of a month starts from what was really used.
"""

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from ai.metrics import AI_QUOTA_REJECTIONS
from core.actor import Actor
from metering.models import (
    OrganizationQuotaCounter,
    QuotaCounter,
    QuotaPeriod,
    QuotaReservation,
    ReservationStatus,
)
from metering.quotas.limits import (
    OrganizationLimits,
    QuotaExceededError,
    QuotaLimits,
    organization_limits_for,
    period_resets,
    period_starts,
    quota_limits_for,
)

logger = structlog.get_logger(__name__)

USER, MEMBER, ORGANIZATION = "user", "member", "organization"


@dataclass(frozen=True)
class CounterRow:
    """One counter a reservation holds tokens on; ``limit`` None: counted, not limited."""

    scope: str
    period: str
    start: dt.date
    limit: int | None = None


def reservation_rows(
    *,
    organization_id: Any,
    day: dt.date,
    month: dt.date,
    limits: QuotaLimits | None = None,
    organization_limits: OrganizationLimits | None = None,
) -> list[CounterRow]:
    """The rows of one reservation, in the lock order (see the module's docstring)."""
    org = organization_limits or OrganizationLimits()
    rows = [
        CounterRow(USER, QuotaPeriod.DAY.value, day, limits.daily_tokens if limits else None),
        CounterRow(USER, QuotaPeriod.MONTH.value, month, limits.monthly_tokens if limits else None),
    ]
    if organization_id is not None:
        rows += [
            CounterRow(MEMBER, QuotaPeriod.DAY.value, day, org.member_daily_tokens),
            CounterRow(MEMBER, QuotaPeriod.MONTH.value, month, org.member_monthly_tokens),
            CounterRow(ORGANIZATION, QuotaPeriod.DAY.value, day, org.daily_tokens),
            CounterRow(ORGANIZATION, QuotaPeriod.MONTH.value, month, org.monthly_tokens),
        ]
    return rows


def _counter_filter(
    scope: str, *, user_id: int, organization_id: Any
) -> tuple[type[models.Model], dict[str, Any]]:
    if scope == USER:
        return QuotaCounter, {"user_id": user_id}
    if scope == MEMBER:
        return OrganizationQuotaCounter, {"organization_id": organization_id, "user_id": user_id}
    return OrganizationQuotaCounter, {"organization_id": organization_id, "user_id": None}


def counters_of(row: CounterRow, *, user_id: int, organization_id: Any) -> "models.QuerySet[Any]":
    """The (at most one) counter row ``row`` names for this user and organization."""
    model, key = _counter_filter(row.scope, user_id=user_id, organization_id=organization_id)
    return model._default_manager.filter(**key, period=row.period, period_start=row.start)


# --- closing -------------------------------------------------------------------------------


def _close_locked(reservation: QuotaReservation, *, status: str, charged: int) -> None:
    """Un-reserve a locked, active reservation on every row it held and charge ``charged``."""
    charged = max(0, int(charged))
    for row in reservation_rows(
        organization_id=reservation.organization_id,
        day=reservation.day_start,
        month=reservation.month_start,
    ):
        counters_of(
            row, user_id=reservation.user_id, organization_id=reservation.organization_id
        ).update(
            reserved_tokens=F("reserved_tokens") - reservation.tokens,
            used_tokens=F("used_tokens") + charged,
        )
    reservation.status = status
    reservation.charged_tokens = charged
    reservation.closed_at = timezone.now()
    reservation.save(update_fields=["status", "charged_tokens", "closed_at"])


def _close(reservation_id: int, *, status: str, charged: int) -> bool:
    """Close an active reservation once (the reservation row, then its counters in order)."""
    with transaction.atomic():
        reservation = (
            QuotaReservation.objects.select_for_update()
            .filter(pk=reservation_id, status=ReservationStatus.ACTIVE)
            .first()
        )
        if reservation is None:
            return False
        _close_locked(reservation, status=status, charged=charged)
    return True


def _stale_cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=int(settings.QUOTA_RESERVATION_TTL))


def _expire_own_stale(*, user_id: int, organization_id: Any, limit: int = 100) -> int:
    """Expire the user's stale reservations in this organization, in the reserving
    transaction: every reservation row is locked (by id, skipping those another closer
    holds) before any counter, and they hold only rows this reservation locks next, so
    the lock order stays the same. Other members' stale reservations are left to
    :func:`quota_reservations_expire` (one transaction each)."""
    stale = list(
        QuotaReservation.objects.select_for_update(skip_locked=True)
        .filter(
            user_id=user_id,
            organization_id=organization_id,
            status=ReservationStatus.ACTIVE,
            created_at__lt=_stale_cutoff(),
        )
        .order_by("pk")[:limit]
    )
    for reservation in stale:
        _close_locked(reservation, status=ReservationStatus.EXPIRED, charged=0)
    return len(stale)


def quota_reservations_expire(*, limit: int = 1000) -> int:
    """Release every reservation older than ``QUOTA_RESERVATION_TTL`` (a dead worker's), for
    all users and organizations, each in its own transaction; the periodic maintenance runs
    it, so nobody keeps tokens reserved. Returns how many were released."""
    ids = list(
        QuotaReservation.objects.filter(
            status=ReservationStatus.ACTIVE, created_at__lt=_stale_cutoff()
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    released = sum(_close(pk, status=ReservationStatus.EXPIRED, charged=0) for pk in ids)
    if released:
        logger.warning("quota_reservations_expired", count=released)
    return released


# --- refusing ------------------------------------------------------------------------------

_LABELS = {QuotaPeriod.DAY.value: "daily", QuotaPeriod.MONTH.value: "monthly"}


def _refusal_message(scope: str, label: str, reset: dt.datetime) -> str:
    when = f"It resets at {reset.strftime('%Y-%m-%d %H:%M')} UTC."
    if scope == ORGANIZATION:
        return f"The organization's {label} token budget is used up. {when}"
    if scope == MEMBER:
        return f"Your {label} token limit in this organization is used up. {when}"
    return f"Your {label} token quota is used up. {when}"


def _reject(
    *,
    reason: str,
    message: str,
    limit: int,
    used: int,
    requested: int,
    resets_at: dt.datetime | None,
    scope: str,
    period: str | None,
) -> None:
    AI_QUOTA_REJECTIONS.labels(reason=reason).inc()
    details: dict[str, Any] = {
        "reason": reason,
        "scope": scope,
        "period": period,
        "limit": limit,
        "used": used,
        "requested": requested,
    }
    headers = {}
    if resets_at is not None:
        details["resets_at"] = resets_at.isoformat()
        retry_after = max(1, math.ceil((resets_at - timezone.now()).total_seconds()))
        details["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
    raise QuotaExceededError(message, details=details, headers=headers)


def _reason(scope: str, period: str) -> str:
    # The user's own keep their names from before organizations (clients match on them).
    base = f"{_LABELS[period]}_tokens"
    return base if scope == USER else f"{scope}_{base}"


# --- holding -------------------------------------------------------------------------------

# The fast path's statements: table names from the models, every value a parameter.
_USER_TABLE = QuotaCounter._meta.db_table
_ORG_TABLE = OrganizationQuotaCounter._meta.db_table
_SUBJECTS = {
    USER: (_USER_TABLE, "user_id = %s"),
    MEMBER: (_ORG_TABLE, "organization_id = %s AND user_id = %s"),
    ORGANIZATION: (_ORG_TABLE, "organization_id = %s AND user_id IS NULL"),
}
_HOLD_SQL = {
    scope: (
        f"UPDATE {table} SET reserved_tokens = reserved_tokens + %s "  # noqa: S608
        f"WHERE {where} AND period = %s AND period_start = %s"
    )
    for scope, (table, where) in _SUBJECTS.items()
}
_WITHIN_LIMIT_SQL = " AND used_tokens + reserved_tokens <= %s"
_RUNNING_SQL = (
    f"SELECT COUNT(*) FROM {QuotaReservation._meta.db_table} "  # noqa: S608
    "WHERE user_id = %s AND status = %s"
)


class _NoRoom(Exception):
    """The fast path could not hold everything: roll its savepoint back (and its locks)."""


def _subject_params(scope: str, *, user_id: int, organization_id: Any) -> list[Any]:
    if scope == USER:
        return [user_id]
    org = OrganizationQuotaCounter._meta.get_field("organization").get_db_prep_value(
        organization_id, connection
    )
    return [org, user_id] if scope == MEMBER else [org]


def _hold_fast(
    *,
    user_id: int,
    organization_id: Any,
    rows: list[CounterRow],
    max_concurrent: int,
    estimate: int,
) -> bool:
    """Hold ``estimate`` on every row with conditional UPDATEs and count the running calls,
    or change nothing.

    In a savepoint: when a row is missing or full, rolling it back gives back what was held
    and releases the row locks taken, so the slow path starts holding nothing. Raw SQL on
    purpose: this runs before every model call, and building these statements with the ORM
    costs ten times more than running them.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for row in rows:
                sql, params = _HOLD_SQL[row.scope], list[Any]([estimate])
                params += _subject_params(
                    row.scope, user_id=user_id, organization_id=organization_id
                )
                params += [row.period, connection.ops.adapt_datefield_value(row.start)]
                if row.limit is not None:
                    sql += _WITHIN_LIMIT_SQL
                    params.append(row.limit - estimate)
                cursor.execute(sql, params)
                if cursor.rowcount != 1:
                    raise _NoRoom
            # Under the user's day-row lock every reservation of the user is serialised.
            cursor.execute(_RUNNING_SQL, [user_id, ReservationStatus.ACTIVE.value])
            if cursor.fetchone()[0] >= max_concurrent:
                raise _NoRoom
    except _NoRoom:
        return False
    return True


def _locked_counter(row: CounterRow, *, user_id: int, organization_id: Any) -> Any:
    model, key = _counter_filter(row.scope, user_id=user_id, organization_id=organization_id)
    manager = model._default_manager
    # get_or_create absorbs a parallel insert (IntegrityError -> get) inside its own savepoint.
    manager.get_or_create(**key, period=row.period, period_start=row.start)
    return manager.select_for_update().get(**key, period=row.period, period_start=row.start)


def _hold_locked(
    *,
    user_id: int,
    organization_id: Any,
    rows: list[CounterRow],
    max_concurrent: int,
    estimate: int,
    now: dt.datetime,
) -> None:
    """Create missing counter rows, lock them in order, check each limit and hold or reject
    (naming the first limit, in that order, that has no room)."""
    resets = period_resets(now)
    locked = [
        (row, _locked_counter(row, user_id=user_id, organization_id=organization_id))
        for row in rows
    ]
    running = QuotaReservation.objects.filter(
        user_id=user_id, status=ReservationStatus.ACTIVE
    ).count()
    if running >= max_concurrent:
        _reject(
            reason="max_concurrent",
            message=(
                f"You already have {running} answer(s) being generated "
                f"(limit {max_concurrent}). Wait for one to finish."
            ),
            limit=max_concurrent,
            used=running,
            requested=1,
            resets_at=None,
            scope=USER,
            period=None,
        )
    for row, counter in locked:
        held = counter.used_tokens + counter.reserved_tokens
        if row.limit is not None and held + estimate > row.limit:
            _reject(
                reason=_reason(row.scope, row.period),
                message=_refusal_message(row.scope, _LABELS[row.period], resets[row.period]),
                limit=row.limit,
                used=held,
                requested=estimate,
                resets_at=resets[row.period],
                scope=row.scope,
                period=row.period,
            )
    for _row, counter in locked:
        type(counter)._default_manager.filter(pk=counter.pk).update(
            reserved_tokens=F("reserved_tokens") + estimate
        )


def quota_reserve(*, actor: Actor, estimate: int) -> int:
    """Hold ``estimate`` tokens for one model call, or raise 429 ``QUOTA_EXCEEDED``.

    Checks, in one step: the user's own limits, and inside the actor's organization the
    member limit and the organization's budget. Returns the reservation id to pass to
    :func:`quota_settle` / :func:`quota_release`. Called inside a transaction (the chat
    turn's), the reservation commits with it; it must be the first counter write there.
    """
    user = actor.user
    user_id = actor.required_user_id
    organization_id = actor.organization_id
    estimate = max(1, int(estimate))
    limits = quota_limits_for(user=user)
    now = timezone.now()
    day, month = period_starts(now)
    rows = reservation_rows(
        organization_id=organization_id,
        day=day,
        month=month,
        limits=limits,
        organization_limits=organization_limits_for(organization_id=organization_id),
    )
    hold = {
        "user_id": user_id,
        "organization_id": organization_id,
        "rows": rows,
        "max_concurrent": limits.max_concurrent,
        "estimate": estimate,
    }
    with transaction.atomic():
        if not _hold_fast(**hold):
            # Stale reservations only matter when something is refused: drop them first.
            _expire_own_stale(user_id=user_id, organization_id=organization_id)
            _hold_locked(**hold, now=now)
        reservation = QuotaReservation.objects.create(
            user_id=user_id,
            organization_id=organization_id,
            tokens=estimate,
            day_start=day,
            month_start=month,
        )
    return reservation.pk


def quota_settle(*, reservation_id: int | None, tokens: int) -> bool:
    """Charge the real token count of a finished (or cancelled/incomplete) call."""
    if reservation_id is None:
        return False
    return _close(reservation_id, status=ReservationStatus.SETTLED, charged=tokens)


def quota_release(*, reservation_id: int | None) -> bool:
    """Give back a reservation whose call failed or never started (charges nothing)."""
    if reservation_id is None:
        return False
    return _close(reservation_id, status=ReservationStatus.RELEASED, charged=0)
