"""Which token limits apply: the user's own (role default or override), and inside an
organization its budget and the limit of each member (``OrganizationQuota``)."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from config.exceptions import ApplicationError
from metering.models import (
    OrganizationQuota,
    Quota,
    organization_quota_cache_key,
    quota_override_cache_key,
)


class QuotaExceededError(ApplicationError):
    status_code = 429
    default_code = "QUOTA_EXCEEDED"
    default_detail = "Your token quota is used up."


@dataclass(frozen=True)
class QuotaLimits:
    daily_tokens: int
    monthly_tokens: int
    max_concurrent: int


@dataclass(frozen=True)
class OrganizationLimits:
    """An organization's budgets and its per-member limits; ``None`` = no limit."""

    daily_tokens: int | None = None
    monthly_tokens: int | None = None
    member_daily_tokens: int | None = None
    member_monthly_tokens: int | None = None
    training_monthly_tokens: int | None = None


QUOTA_FIELDS = ("daily_tokens", "monthly_tokens", "max_concurrent")
ORGANIZATION_QUOTA_FIELDS = (
    "daily_tokens",
    "monthly_tokens",
    "member_daily_tokens",
    "member_monthly_tokens",
    "training_monthly_tokens",
)

# How long a stored quota stays cached; saves and deletes clear it at once (metering.models).
_CACHE_SECONDS = 300


def _role_defaults(role: str) -> dict[str, int]:
    defaults = settings.QUOTA_DEFAULTS
    return defaults.get(role) or defaults["user"]


def _override_values(user_id: int) -> dict[str, int | None]:
    key = quota_override_cache_key(user_id)
    values = cache.get(key)
    if values is None:
        row = Quota.objects.filter(user_id=user_id).values(*QUOTA_FIELDS).first()
        values = row or {}  # {} caches "no override" too
        cache.set(key, values, timeout=_CACHE_SECONDS)
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


def organization_limits_for(*, organization_id: Any) -> OrganizationLimits:
    """The budgets of an organization (no row: no limits; the members' own quotas apply)."""
    if organization_id is None:
        return OrganizationLimits()
    key = organization_quota_cache_key(organization_id)
    values = cache.get(key)
    if values is None:
        row = (
            OrganizationQuota.objects.filter(organization_id=organization_id)
            .values(*ORGANIZATION_QUOTA_FIELDS)
            .first()
        )
        values = row or {}
        cache.set(key, values, timeout=_CACHE_SECONDS)
    return OrganizationLimits(**values)


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


def period_resets(now: dt.datetime | None = None) -> dict[str, dt.datetime]:
    """``quota_resets`` by period name (``day``, ``month``)."""
    daily, monthly = quota_resets(now)
    return {"day": daily, "month": monthly}
