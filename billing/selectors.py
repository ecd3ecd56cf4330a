"""Reads of billing: the public plans, the organization's subscription with its entitlements
and usage against them, and its invoices. Nothing here writes (the subscription every
organization has is created by the signal and the data migration)."""

from typing import Any

from django.apps import apps
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from billing.models import Invoice, Plan, Subscription
from billing.services.entitlements import entitlements_for
from billing.services.usage import period_allowance, period_usage_records
from config.exceptions import NotFoundError, PermissionDeniedError
from core.actor import Actor
from core.policies import is_org_admin
from metering.models import UsageKind
from tenants.limits import organization_member_count

_SUMS = {
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "total_tokens": Coalesce(Sum("total_tokens"), 0),
    "requests": Count("id"),
}


def plan_list_public() -> QuerySet[Plan]:
    """The plans anyone may choose: the current version of each public plan."""
    return Plan.objects.filter(is_public=True, is_current=True)


def _organization_id(actor: Actor) -> Any:
    if actor.organization_id is None:
        raise NotFoundError("No organization.", code="TENANT_NOT_FOUND")
    return actor.organization_id


def subscription_get(*, actor: Actor) -> Subscription:
    """The subscription of the actor's organization (any member may read it)."""
    subscription = (
        Subscription.all_organizations.select_related("plan", "pending_plan", "organization")
        .filter(organization_id=_organization_id(actor))
        .first()
    )
    if subscription is None:
        raise NotFoundError("The organization has no subscription.", code="NOT_FOUND")
    return subscription


def _documents_usage(organization_id: Any) -> tuple[int, int]:
    # documents sits above billing in the import order: read its rows through the app
    # registry (counts only), as the design's "billing never imports documents" requires.
    document = apps.get_model("documents", "Document")
    totals = document.all_organizations.filter(organization_id=organization_id).aggregate(
        count=Count("id"), size=Coalesce(Sum("size_bytes"), 0)
    )
    return int(totals["count"]), int(totals["size"])


def subscription_usage(*, actor: Actor, subscription: Subscription | None = None) -> dict[str, Any]:
    """The current period's usage against the plan's entitlements, by model and by member."""
    subscription = subscription or subscription_get(actor=actor)
    plan = subscription.plan
    start, end = subscription.current_period_start, subscription.current_period_end
    records = period_usage_records(
        organization_id=subscription.organization_id, start=start, end=end
    )
    chat = records.filter(kind=UsageKind.CHAT)
    used = int(chat.aggregate(tokens=Coalesce(Sum("total_tokens"), 0))["tokens"])
    allowance = period_allowance(plan) if plan.monthly_tokens is not None else None
    documents, storage = _documents_usage(subscription.organization_id)
    members = list(
        records.values("user_id", "user__email").annotate(**_SUMS).order_by("-total_tokens")
    )
    return {
        "period_start": start,
        "period_end": end,
        "tokens": {
            "used": used,
            "allowance": allowance,
            "remaining": None if allowance is None else max(0, allowance - used),
            "overage": 0 if allowance is None else max(0, used - allowance),
            "overage_policy": plan.overage_policy,
        },
        "members": {
            "used": organization_member_count(organization=subscription.organization_id),
            "limit": plan.max_members,
        },
        "documents": {"used": documents, "limit": plan.max_documents},
        "storage_bytes": {"used": storage, "limit": plan.max_storage_bytes},
        "by_model": list(
            records.values("model", "kind").annotate(**_SUMS).order_by("-total_tokens", "model")
        ),
        "by_member": [
            {
                "user_id": row["user_id"],
                # Usage of a deleted member stays (anonymised) for accounting.
                "email": row["user__email"],
                **{key: row[key] for key in _SUMS},
            }
            for row in members
        ],
    }


def subscription_info(*, actor: Actor) -> dict[str, Any]:
    from billing.services.subscriptions import can_manage_billing

    subscription = subscription_get(actor=actor)
    return {
        "subscription": subscription,
        "entitlements": entitlements_for(subscription.plan),
        "usage": subscription_usage(actor=actor, subscription=subscription),
        "can_manage": can_manage_billing(actor, subscription),
    }


def invoice_list(*, actor: Actor) -> QuerySet[Invoice]:
    """The organization's invoices, newest first (owners and admins)."""
    organization_id = _organization_id(actor)
    if not is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owner and admins see its invoices.")
    return (
        Invoice.all_organizations.filter(organization_id=organization_id)
        .exclude(number__isnull=True)
        .prefetch_related("lines")
        .order_by("-created_at", "-number")
    )


def invoice_get(*, actor: Actor, invoice_id: Any) -> Invoice:
    """One invoice of the organization (another organization's is a 404)."""
    invoice = invoice_list(actor=actor).filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFoundError("No such invoice.")
    return invoice
