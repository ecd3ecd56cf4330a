"""A plan's entitlements written where they are enforced: metering's organization quota, the
organization's caps and model list (tenants), and its feature flags (ops).

Called inside the transaction that changes the subscription, so the plan and the limits never
disagree: a downgrade lowers them in the same commit. Metering never reads billing.
"""

from typing import Any

from django.db import transaction

from billing.models import OveragePolicy, Plan
from core.actor import Actor
from metering.models import OrganizationQuota
from ops.flags import feature_flag_delete, feature_flag_set
from tenants.models import Organization


def entitlements_for(plan: Plan) -> dict[str, Any]:
    return {
        "monthly_tokens": plan.monthly_tokens,
        "overage_policy": plan.overage_policy,
        "overage_price_per_1k_minor": plan.overage_price_per_1k_minor,
        "max_members": plan.max_members,
        "max_documents": plan.max_documents,
        "max_storage_bytes": plan.max_storage_bytes,
        "allowed_models": list(plan.allowed_models or []),
        "feature_flags": dict(plan.feature_flags or {}),
    }


def entitlements_apply(
    *, actor: Actor, organization: Organization, plan: Plan, previous: Plan | None = None
) -> None:
    """Write ``plan``'s limits for ``organization`` (in the caller's transaction)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Entitlements change with the subscription, in its transaction.")
    # With overage billed the monthly budget stays open: usage past the allowance is billed at
    # the period close instead of refused.
    monthly = plan.monthly_tokens if plan.overage_policy == OveragePolicy.BLOCK else None
    OrganizationQuota.objects.update_or_create(
        organization=organization,
        defaults={"monthly_tokens": monthly, "updated_by": actor.user if actor.user_id else None},
    )
    organization.max_members = plan.max_members
    organization.max_documents = plan.max_documents
    organization.max_storage_bytes = plan.max_storage_bytes
    organization.allowed_models = list(plan.allowed_models or [])
    organization.save(
        update_fields=["max_members", "max_documents", "max_storage_bytes", "allowed_models"]
    )
    flags = {str(name): bool(value) for name, value in (plan.feature_flags or {}).items()}
    for name, enabled in sorted(flags.items()):
        feature_flag_set(name=name, enabled=enabled, actor=actor, organization_id=organization.pk)
    if previous is not None:
        for name in sorted(set(previous.feature_flags or {}) - set(flags)):
            # The previous plan's flag no longer applies: the platform's value does again.
            feature_flag_delete(name=name, actor=actor, organization_id=organization.pk)
