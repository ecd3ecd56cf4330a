"""Reads for usage reports (no writes here)."""

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import User
from config.exceptions import PermissionDeniedError
from core import policies
from core.actor import Actor
from metering.models import UsageRecord
from metering.quotas import organization_quota_status, quota_status

_SUMS = {
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "total_tokens": Coalesce(Sum("total_tokens"), 0),
    "requests": Count("id"),
}
TOP_USERS = 10
MAX_USAGE_DAYS = 366


def _records(
    *, since: dt.datetime, until: dt.datetime, user_id: int | None = None, organization_id: Any
) -> Any:
    """Usage records in ``[since, until]``, of one user and/or one organization (``...``: in
    any organization: the platform's reports)."""
    records = UsageRecord.objects.filter(created_at__gte=since, created_at__lte=until)
    if user_id is not None:
        records = records.filter(user_id=user_id)
    if organization_id is not ...:
        records = records.filter(organization_id=organization_id)
    return records


def usage_window(
    *, user_id: int | None, since: dt.datetime, until: dt.datetime, organization_id: Any = ...
) -> dict[str, Any]:
    """Token and request totals in ``[since, until]`` of one user (in one organization, when
    given; ``user_id`` None: all of the organization's), split by model and kind."""
    records = _records(since=since, until=until, user_id=user_id, organization_id=organization_id)
    totals = records.aggregate(**_SUMS)
    by_model = list(
        records.values("model", "kind").annotate(**_SUMS).order_by("-total_tokens", "model", "kind")
    )
    by_kind = list(records.values("kind").annotate(**_SUMS).order_by("kind"))
    return {"since": since, "until": until, **totals, "by_model": by_model, "by_kind": by_kind}


def usage_summary(*, actor: Actor) -> dict[str, Any]:
    """Own usage in the current organization: the current UTC day, the last 24 hours and the
    last 7 days, the user's own quota and the member limit and budget of the organization."""
    user = actor.user
    organization_id = actor.organization_id
    now = timezone.now()
    midnight = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    status = quota_status(user=user)

    def window(since: dt.datetime) -> dict[str, Any]:
        return usage_window(
            user_id=user.pk, since=since, until=now, organization_id=organization_id
        )

    return {
        "user_id": user.pk,
        "organization_id": organization_id,
        "today": window(midnight),
        "last_24h": window(now - dt.timedelta(hours=24)),
        "last_7d": window(now - dt.timedelta(days=7)),
        "quota": {
            "daily_tokens": status["daily"]["limit"],
            "daily_used": status["daily"]["used"],
            "daily_reserved": status["daily"]["reserved"],
            "remaining": status["daily"]["remaining"],
            "resets_at": status["daily"]["resets_at"],
            "monthly_tokens": status["monthly"]["limit"],
            "monthly_used": status["monthly"]["used"],
            "monthly_remaining": status["monthly"]["remaining"],
            "monthly_resets_at": status["monthly"]["resets_at"],
            "max_concurrent": status["max_concurrent"],
            "running": status["running"],
        },
        "organization_quota": (
            organization_quota_status(organization_id=organization_id, user_id=user.pk)
            if organization_id is not None
            else None
        ),
    }


def organization_usage(*, actor: Actor, days: int) -> dict[str, Any]:
    """The current organization's usage over the last ``days`` days: totals, by member, by
    model and per UTC day, and its budgets. For its owners and admins only."""
    if not policies.is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owners and admins see its usage.")
    organization_id = actor.organization_id
    days = max(1, min(int(days), MAX_USAGE_DAYS))
    now = timezone.now()
    since = now - dt.timedelta(days=days)
    records = _records(since=since, until=now, organization_id=organization_id)
    by_member = [
        {
            "user_id": row["user_id"],
            # Deleted members' records are anonymised (user NULL): one row of their own.
            "email": row["user__email"],
            **{key: row[key] for key in _SUMS},
        }
        for row in records.values("user_id", "user__email")
        .annotate(**_SUMS)
        .order_by("-total_tokens", "user_id")
    ]
    return {
        "organization_id": organization_id,
        "days": days,
        "window": usage_window(
            user_id=None, since=since, until=now, organization_id=organization_id
        ),
        "by_member": by_member,
        "daily": list(
            records.annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
            .values("day")
            .annotate(**_SUMS)
            .order_by("day")
        ),
        "quota": organization_quota_status(organization_id=organization_id, user_id=None),
    }


def usage_for_admin(*, user: User, days: int) -> dict[str, Any]:
    """One user's usage over the last ``days`` days, with a per-day breakdown (UTC dates)."""
    days = max(1, min(int(days), MAX_USAGE_DAYS))
    now = timezone.now()
    since = now - dt.timedelta(days=days)
    window = usage_window(user_id=user.pk, since=since, until=now)
    daily = list(
        UsageRecord.objects.filter(user_id=user.pk, created_at__gte=since, created_at__lte=now)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(**_SUMS)
        .order_by("day")
    )
    return {
        "user_id": user.pk,
        "email": user.email,
        "days": days,
        "window": window,
        "daily": daily,
        "quota": quota_status(user=user),
    }


def usage_stats(now: dt.datetime) -> dict[str, Any]:
    """The metering part of the platform statistics: active users, tokens, top users."""
    User = get_user_model()
    day_ago, week_ago = now - dt.timedelta(hours=24), now - dt.timedelta(days=7)

    def active_since(since: dt.datetime) -> int:
        # Active = logged in or called a model in the window.
        return (
            User.objects.filter(Q(last_login__gte=since) | Q(usage_records__created_at__gte=since))
            .distinct()
            .count()
        )

    def tokens_since(since: dt.datetime) -> dict[str, int]:
        return UsageRecord.objects.filter(created_at__gte=since).aggregate(**_SUMS)

    top = list(
        # Deleted users' records are anonymised (user NULL): counted in the totals, not here.
        UsageRecord.objects.filter(created_at__gte=week_ago, user__isnull=False)
        .values("user_id", "user__email")
        .annotate(total_tokens=Coalesce(Sum("total_tokens"), 0), requests=Count("id"))
        .order_by("-total_tokens", "user_id")[:TOP_USERS]
    )
    return {
        "active_users": {"last_24h": active_since(day_ago), "last_7d": active_since(week_ago)},
        "tokens": {"last_24h": tokens_since(day_ago), "last_7d": tokens_since(week_ago)},
        "top_users": [
            {
                "user_id": row["user_id"],
                "email": row["user__email"],
                "total_tokens": row["total_tokens"],
                "requests": row["requests"],
            }
            for row in top
        ],
    }
