"""The platform statistics of the admin API and the console dashboard (reads only)."""

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from documents.models import Document, DocumentStatus
from metering.models import UsageRecord
from metering.selectors import _SUMS, TOP_USERS


def admin_stats() -> dict[str, Any]:
    """Users by role and state, activity, sessions, messages, documents, tokens, top users."""
    from chat.models import ChatMessage, ChatSession

    User = get_user_model()
    now = timezone.now()
    day_ago, week_ago = now - dt.timedelta(hours=24), now - dt.timedelta(days=7)

    users = User.objects.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(is_active=True)),
        suspended=Count("id", filter=Q(is_active=False)),
        verified=Count("id", filter=Q(is_verified=True)),
    )
    by_role = {row["role"]: row["n"] for row in User.objects.values("role").annotate(n=Count("id"))}

    def active_since(since: dt.datetime) -> int:
        # Active = logged in or called a model in the window.
        return (
            User.objects.filter(Q(last_login__gte=since) | Q(usage_records__created_at__gte=since))
            .distinct()
            .count()
        )

    docs_by_status = dict.fromkeys(DocumentStatus.values, 0)
    for row in Document.objects.values("status").annotate(n=Count("id")):
        docs_by_status[row["status"]] = row["n"]

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
        "generated_at": now,
        "users": {**users, "by_role": by_role},
        "active_users": {"last_24h": active_since(day_ago), "last_7d": active_since(week_ago)},
        "sessions": ChatSession.objects.aggregate(
            total=Count("id"),
            active=Count("id", filter=Q(is_active=True)),
            created_last_24h=Count("id", filter=Q(created_at__gte=day_ago)),
        ),
        "messages": ChatMessage.objects.aggregate(
            total=Count("id"),
            last_24h=Count("id", filter=Q(timestamp__gte=day_ago)),
            last_7d=Count("id", filter=Q(timestamp__gte=week_ago)),
        ),
        "documents": {"total": sum(docs_by_status.values()), "by_status": docs_by_status},
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
