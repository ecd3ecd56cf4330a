"""The organization's training budget: trained tokens a month (``training`` usage records),
``metering.OrganizationQuota.training_monthly_tokens``."""

import datetime as dt
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from finetuning.models import ACTIVE_JOB_STATUSES, FineTuneJob
from metering.models import OrganizationQuota, UsageKind, UsageRecord
from metering.quotas import QuotaExceededError


def _month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def training_budget(*, organization_id: Any) -> dict[str, int | None]:
    """The month's limit (``None``: none), tokens trained this month, and tokens held by jobs
    still running (their estimates: metered only when they succeed)."""
    now = timezone.now()
    limit = (
        OrganizationQuota.objects.filter(organization_id=organization_id)
        .values_list("training_monthly_tokens", flat=True)
        .first()
    )
    used = (
        UsageRecord.objects.filter(
            organization_id=organization_id,
            kind=UsageKind.TRAINING,
            created_at__gte=_month_start(now),
        ).aggregate(total=Sum("total_tokens"))["total"]
        or 0
    )
    pending = (
        FineTuneJob.all_organizations.filter(
            organization_id=organization_id, status__in=ACTIVE_JOB_STATUSES
        ).aggregate(total=Sum("estimated_tokens"))["total"]
        or 0
    )
    return {"limit": limit, "used": int(used), "pending": int(pending)}


def training_quota_check(*, organization_id: Any, estimate: int) -> None:
    """Refuse a job whose estimated trained tokens exceed what is left this month (429)."""
    budget = training_budget(organization_id=organization_id)
    limit = budget["limit"]
    if limit is None:
        return
    left = max(0, int(limit) - int(budget["used"] or 0) - int(budget["pending"] or 0))
    if estimate > left:
        raise QuotaExceededError(
            f"This job would train about {estimate} tokens; the organization has {left} "
            "training tokens left this month.",
            details={
                "reason": "training_monthly_tokens",
                "limit": limit,
                "used": budget["used"],
                "pending": budget["pending"],
                "requested": estimate,
            },
        )
