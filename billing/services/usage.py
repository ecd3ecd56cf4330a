"""Token usage of an organization in a billing period, and the overage it owes.

Read from ``metering.UsageRecord`` (records outlive deleted members and chats). The allowance
counts chat tokens, the usage the quotas charge; embeddings of uploaded documents are metered
but not charged (``metering.quotas``).
"""

import datetime as dt
from typing import Any

from django.db.models import Sum
from django.db.models.functions import Coalesce

from billing.models import InvoiceLineKind, OveragePolicy, Plan, PlanInterval, Subscription
from billing.money import overage_amount
from billing.services.invoices import LineSpec
from metering.models import UsageKind, UsageRecord


def period_usage_records(*, organization_id: Any, start: dt.datetime, end: dt.datetime) -> Any:
    return UsageRecord.objects.filter(
        organization_id=organization_id, created_at__gte=start, created_at__lt=end
    )


def period_billable_tokens(*, organization_id: Any, start: dt.datetime, end: dt.datetime) -> int:
    records = period_usage_records(organization_id=organization_id, start=start, end=end)
    total = records.filter(kind=UsageKind.CHAT).aggregate(tokens=Coalesce(Sum("total_tokens"), 0))[
        "tokens"
    ]
    return int(total)


def period_allowance(plan: Plan) -> int:
    """The tokens a period includes: the monthly allowance, times 12 for a yearly plan."""
    return int(plan.monthly_tokens or 0) * (12 if plan.interval == PlanInterval.YEAR else 1)


def overage_line(
    *, subscription: Subscription, plan: Plan, start: dt.datetime, end: dt.datetime
) -> LineSpec | None:
    """The invoice line of the tokens past ``plan``'s allowance in ``[start, end)``, or
    ``None`` (no overage, or the plan blocks instead of billing)."""
    if plan.overage_policy != OveragePolicy.BILL or plan.monthly_tokens is None:
        return None
    used = period_billable_tokens(
        organization_id=subscription.organization_id, start=start, end=end
    )
    allowance = period_allowance(plan)
    over = used - allowance
    if over <= 0:
        return None
    return LineSpec(
        kind=InvoiceLineKind.OVERAGE,
        description=f"{over} tokens past the allowance of {allowance} ({plan.name})",
        amount_minor=overage_amount(
            tokens=over, price_per_1k_minor=plan.overage_price_per_1k_minor
        ),
        quantity=over,
        plan=plan,
        period_start=start,
        period_end=end,
    )
