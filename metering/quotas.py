"""Token quotas: daily and monthly budgets and a concurrent-generation limit per user.

Limits come from the user's ``Quota`` override, field by field, else ``QUOTA_DEFAULTS`` of
their role (the override is cached; saving or deleting a ``Quota`` clears it). Before a model
call the estimated tokens (prompt + the ``AI_MAX_TOKENS`` cap on the answer) are *reserved*:

- the fast path is two conditional ``UPDATE``s, day row then month row, that add the estimate
  only where ``used + reserved + estimate <= limit`` holds; the database checks and increments
  under the row lock, so parallel requests on any number of workers can never overrun a
  budget. Under the day-row lock every reservation of the user is serialised, so the count of
  active reservations that enforces ``max_concurrent`` is exact;
- when a counter row is missing or a limit is reached, the slow path expires the user's stale
  reservations, then locks both rows (``SELECT ... FOR UPDATE``, day then month, the same
  order everywhere, so no deadlock), checks again and says precisely which limit refused.

After the call the reservation is *settled* with the real count (cancelled and incomplete
answers are charged for what was produced) or *released* when the call failed. A reservation
whose process died is expired after ``QUOTA_RESERVATION_TTL`` seconds.

Document embeddings are metered (``UsageRecord`` kind ``embedding``, shown by the usage
endpoints) but are not charged to these budgets: ingestion is bounded by the upload throttle and
the document size and count limits instead, and a user's uploaded document must not fail half
way because a chat used the day's budget.
"""

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from ai.metrics import AI_QUOTA_REJECTIONS
from config.exceptions import ApplicationError
from core.actor import Actor
from metering.models import (
    Quota,
    QuotaCounter,
    QuotaPeriod,
    QuotaReservation,
    ReservationStatus,
    quota_override_cache_key,
)
from ops.audit import audit_log

logger = structlog.get_logger(__name__)


class QuotaExceededError(ApplicationError):
    status_code = 429
    default_code = "QUOTA_EXCEEDED"
    default_detail = "Your token quota is used up."


@dataclass(frozen=True)
class QuotaLimits:
    daily_tokens: int
    monthly_tokens: int
    max_concurrent: int


QUOTA_FIELDS = ("daily_tokens", "monthly_tokens", "max_concurrent")


def _role_defaults(role: str) -> dict[str, int]:
    defaults = settings.QUOTA_DEFAULTS
    return defaults.get(role) or defaults["user"]


# How long a user's override stays cached; saves and deletes clear it at once (ai.models).
_OVERRIDE_CACHE_SECONDS = 300


def _override_values(user_id: int) -> dict[str, int | None]:
    key = quota_override_cache_key(user_id)
    values = cache.get(key)
    if values is None:
        row = Quota.objects.filter(user_id=user_id).values(*QUOTA_FIELDS).first()
        values = row or {}  # {} caches "no override" too
        cache.set(key, values, timeout=_OVERRIDE_CACHE_SECONDS)
    return values


def quota_limits_for(*, user: User) -> QuotaLimits:
    """The limits that apply to ``user`` (override field by field, else the role default)."""
    base = _role_defaults(user.role)
    override = _override_values(user.pk)
    values = {}
    for name in QUOTA_FIELDS:
        custom = override.get(name)
        values[name] = int(custom if custom is not None else base[name])
    return QuotaLimits(**values)


def period_starts(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """The UTC day and month that ``now`` falls in."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    day = now.date()
    return day, day.replace(day=1)


def quota_resets(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """When the daily and the monthly budget start afresh (UTC midnight / first of month)."""
    day, month = period_starts(now)
    next_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    next_month_date = (month + dt.timedelta(days=32)).replace(day=1)
    next_month = dt.datetime.combine(next_month_date, dt.time(), tzinfo=dt.UTC)
    return next_day, next_month


def _locked_counter(*, user_id: int, period: str, start: dt.date) -> QuotaCounter:
    # get_or_create absorbs a parallel insert (IntegrityError -> get) inside its own savepoint.
    QuotaCounter.objects.get_or_create(user_id=user_id, period=period, period_start=start)
    return QuotaCounter.objects.select_for_update().get(
        user_id=user_id, period=period, period_start=start
    )


def _close(reservation_id: int, *, status: str, charged: int) -> bool:
    """Close an active reservation once: un-reserve its tokens and charge ``charged``."""
    with transaction.atomic():
        reservation = (
            QuotaReservation.objects.select_for_update()
            .filter(pk=reservation_id, status=ReservationStatus.ACTIVE)
            .first()
        )
        if reservation is None:
            return False
        charged = max(0, int(charged))
        # Day row before month row: the same lock order as quota_reserve.
        for period, start in (
            (QuotaPeriod.DAY, reservation.day_start),
            (QuotaPeriod.MONTH, reservation.month_start),
        ):
            QuotaCounter.objects.filter(
                user_id=reservation.user_id, period=period, period_start=start
            ).update(
                reserved_tokens=F("reserved_tokens") - reservation.tokens,
                used_tokens=F("used_tokens") + charged,
            )
        reservation.status = status
        reservation.charged_tokens = charged
        reservation.closed_at = timezone.now()
        reservation.save(update_fields=["status", "charged_tokens", "closed_at"])
    return True


def _expire_stale(*, user_id: int | None = None, limit: int = 100) -> int:
    cutoff = timezone.now() - dt.timedelta(seconds=int(settings.QUOTA_RESERVATION_TTL))
    stale = QuotaReservation.objects.filter(status=ReservationStatus.ACTIVE, created_at__lt=cutoff)
    if user_id is not None:
        stale = stale.filter(user_id=user_id)
    return sum(
        _close(reservation_id, status=ReservationStatus.EXPIRED, charged=0)
        for reservation_id in list(stale.values_list("pk", flat=True)[:limit])
    )


def quota_reservations_expire(*, limit: int = 1000) -> int:
    """Release every reservation older than ``QUOTA_RESERVATION_TTL`` (a dead worker's), for
    all users; the periodic maintenance runs it, so a user who never chats again does not keep
    tokens reserved. Returns how many were released."""
    released = _expire_stale(limit=limit)
    if released:
        logger.warning("quota_reservations_expired", count=released)
    return released


def _reject(*, reason: str, message: str, limit: int, used: int, requested: int, resets_at):
    AI_QUOTA_REJECTIONS.labels(reason=reason).inc()
    details: dict[str, Any] = {
        "reason": reason,
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


# The fast path's statements: table names from the models, every value a parameter.
_COUNTERS = QuotaCounter._meta.db_table
_HOLD_SQL = (
    f"UPDATE {_COUNTERS} SET reserved_tokens = reserved_tokens + %s "  # noqa: S608
    "WHERE user_id = %s AND period = %s AND period_start = %s "
    "AND used_tokens + reserved_tokens <= %s"
)
_UNHOLD_SQL = (
    f"UPDATE {_COUNTERS} SET reserved_tokens = reserved_tokens - %s "  # noqa: S608
    "WHERE user_id = %s AND period = %s AND period_start = %s"
)
_RUNNING_SQL = (
    f"SELECT COUNT(*) FROM {QuotaReservation._meta.db_table} "  # noqa: S608
    "WHERE user_id = %s AND status = %s"
)


def _hold_fast(
    *, user_id: int, limits: QuotaLimits, estimate: int, day: dt.date, month: dt.date
) -> bool:
    """Hold ``estimate`` with two conditional UPDATEs and a count, or change nothing.

    Raw SQL on purpose: this runs before every model call, and building these statements
    with the ORM costs ten times more than running them.
    """
    rows = [
        (QuotaPeriod.DAY.value, connection.ops.adapt_datefield_value(day), limits.daily_tokens),
        (
            QuotaPeriod.MONTH.value,
            connection.ops.adapt_datefield_value(month),
            limits.monthly_tokens,
        ),
    ]
    held = []
    with connection.cursor() as cursor:
        # Day row first, then month row: the lock order of every writer of these rows.
        for period, start, limit in rows:
            cursor.execute(_HOLD_SQL, [estimate, user_id, period, start, limit - estimate])
            if cursor.rowcount != 1:
                break
            held.append((period, start))
        else:
            cursor.execute(_RUNNING_SQL, [user_id, ReservationStatus.ACTIVE.value])
            if cursor.fetchone()[0] < limits.max_concurrent:
                return True
        # No room (or no row yet): give back what was held in this transaction.
        for period, start in held:
            cursor.execute(_UNHOLD_SQL, [estimate, user_id, period, start])
    return False


def _hold_locked(
    *,
    user_id: int,
    limits: QuotaLimits,
    estimate: int,
    day: dt.date,
    month: dt.date,
    now: dt.datetime,
) -> None:
    """Create missing counter rows, lock both, check each limit and hold or reject."""
    daily_reset, monthly_reset = quota_resets(now)
    day_row = _locked_counter(user_id=user_id, period=QuotaPeriod.DAY, start=day)
    month_row = _locked_counter(user_id=user_id, period=QuotaPeriod.MONTH, start=month)
    # Under the day-row lock every reservation of this user is serialised: the count is exact.
    running = QuotaReservation.objects.filter(
        user_id=user_id, status=ReservationStatus.ACTIVE
    ).count()
    if running >= limits.max_concurrent:
        _reject(
            reason="max_concurrent",
            message=(
                f"You already have {running} answer(s) being generated "
                f"(limit {limits.max_concurrent}). Wait for one to finish."
            ),
            limit=limits.max_concurrent,
            used=running,
            requested=1,
            resets_at=None,
        )
    for row, limit, reset, label in (
        (day_row, limits.daily_tokens, daily_reset, "daily"),
        (month_row, limits.monthly_tokens, monthly_reset, "monthly"),
    ):
        held = row.used_tokens + row.reserved_tokens
        if held + estimate > limit:
            _reject(
                reason=f"{label}_tokens",
                message=f"Your {label} token quota is used up. It resets at "
                f"{reset.strftime('%Y-%m-%d %H:%M')} UTC.",
                limit=limit,
                used=held,
                requested=estimate,
                resets_at=reset,
            )
    QuotaCounter.objects.filter(pk__in=[day_row.pk, month_row.pk]).update(
        reserved_tokens=F("reserved_tokens") + estimate
    )


def quota_reserve(*, user: User, estimate: int) -> int:
    """Hold ``estimate`` tokens for one model call, or raise 429 ``QUOTA_EXCEEDED``.

    Returns the reservation id to pass to :func:`quota_settle` / :func:`quota_release`.
    Called inside a transaction (the chat turn's), the reservation commits with it.
    """
    estimate = max(1, int(estimate))
    limits = quota_limits_for(user=user)
    now = timezone.now()
    day, month = period_starts(now)
    with transaction.atomic():
        if not _hold_fast(user_id=user.pk, limits=limits, estimate=estimate, day=day, month=month):
            # Stale reservations only matter when something is refused: drop them first.
            _expire_stale(user_id=user.pk)
            _hold_locked(
                user_id=user.pk, limits=limits, estimate=estimate, day=day, month=month, now=now
            )
        reservation = QuotaReservation.objects.create(
            user_id=user.pk, tokens=estimate, day_start=day, month_start=month
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


def quota_status(*, user: User) -> dict[str, Any]:
    """Limits, what is used and held, what is left and when each budget resets."""
    _expire_stale(user_id=user.pk)  # what a dead worker held is not shown as held
    limits = quota_limits_for(user=user)
    now = timezone.now()
    day, month = period_starts(now)
    daily_reset, monthly_reset = quota_resets(now)
    rows = {
        (r.period, r.period_start): r
        for r in QuotaCounter.objects.filter(
            user_id=user.pk,
            period__in=[QuotaPeriod.DAY, QuotaPeriod.MONTH],
            period_start__in=[day, month],
        )
    }

    def window(period: str, start: dt.date, limit: int, reset: dt.datetime) -> dict[str, Any]:
        row = rows.get((period, start))
        used = row.used_tokens if row else 0
        reserved = row.reserved_tokens if row else 0
        return {
            "limit": limit,
            "used": used,
            "reserved": reserved,
            "remaining": max(0, limit - used - reserved),
            "resets_at": reset,
        }

    running = QuotaReservation.objects.filter(
        user_id=user.pk, status=ReservationStatus.ACTIVE
    ).count()
    return {
        "daily": window(QuotaPeriod.DAY, day, limits.daily_tokens, daily_reset),
        "monthly": window(QuotaPeriod.MONTH, month, limits.monthly_tokens, monthly_reset),
        "max_concurrent": limits.max_concurrent,
        "running": running,
    }


def quota_override_get(*, user: User) -> dict[str, Any]:
    """The stored override (nulls = role default) and the effective limits."""
    override = Quota.objects.filter(user_id=user.pk).first()
    return {
        "user_id": user.pk,
        "role": user.role,
        **{name: getattr(override, name, None) if override else None for name in QUOTA_FIELDS},
        "effective": asdict(quota_limits_for(user=user)),
    }


def quota_override_set(*, user: User, actor: Actor, data: dict[str, int | None]) -> dict[str, Any]:
    """Set the override fields given in ``data`` (null = back to the role default); audited."""
    with transaction.atomic():
        quota, _ = Quota.objects.select_for_update().get_or_create(user_id=user.pk)
        before = {name: getattr(quota, name) for name in QUOTA_FIELDS}
        for name in QUOTA_FIELDS:
            if name in data:
                setattr(quota, name, data[name])
        quota.updated_by = actor.user if actor.user_id is not None else None
        quota.save()
        after = {name: getattr(quota, name) for name in QUOTA_FIELDS}
    if before != after:
        audit_log(action="quota_changed", actor=actor, target=user, old=before, new=after)
    return quota_override_get(user=user)
