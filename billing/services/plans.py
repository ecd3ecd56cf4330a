"""Plans are versioned: changing what a plan costs or grants while organizations use it makes
a new version; their subscriptions keep the old one until renewal (the period close)."""

from typing import Any

from django.db import transaction
from django.db.models import Max

from billing.models import Plan, Subscription
from config.exceptions import ApplicationError
from core.actor import Actor
from ops.audit import audit_log
from ops.flags import feature_flag_name_validate

# What a subscriber bought: a change of any of these is a new version.
VERSIONED_FIELDS = (
    "price_minor",
    "currency",
    "interval",
    "trial_days",
    "monthly_tokens",
    "overage_policy",
    "overage_price_per_1k_minor",
    "max_members",
    "max_documents",
    "max_storage_bytes",
    "allowed_models",
    "feature_flags",
    "stripe_price_id",
)


def plan_validate(plan: Plan) -> None:
    plan.currency = (plan.currency or "").upper()
    if len(plan.currency) != 3 or not plan.currency.isalpha():
        raise ApplicationError(
            "The currency is a three-letter ISO 4217 code.",
            code="VALIDATION_ERROR",
            details={"currency": ["Use a code such as EUR or USD."]},
        )
    if not isinstance(plan.feature_flags, dict):
        raise ApplicationError(
            "Feature flags are an object of names to true/false.",
            code="VALIDATION_ERROR",
            details={"feature_flags": ['Use {"flag_name": true}.']},
        )
    for name in plan.feature_flags:
        feature_flag_name_validate(str(name))
    if not isinstance(plan.allowed_models, list):
        raise ApplicationError(
            "Allowed models are a list of model names.",
            code="VALIDATION_ERROR",
            details={"allowed_models": ['Use ["gpt-4o-mini"].']},
        )


def plan_save(*, actor: Actor, plan: Plan, changed: list[str]) -> Plan:
    """Save a new or edited plan; an edit of a sold plan's terms becomes its next version
    (the edited row keeps its old terms for the subscriptions that have it)."""
    plan_validate(plan)
    with transaction.atomic():
        if plan.pk is None:
            plan.version = (
                Plan.objects.filter(code=plan.code).aggregate(v=Max("version"))["v"] or 0
            ) + 1
            Plan.objects.filter(code=plan.code, is_current=True).update(is_current=False)
            plan.is_current = True
            plan.save()
            audit_log(action="billing.plan_created", actor=actor, target=plan, plan=str(plan))
            return plan
        terms = [name for name in changed if name in VERSIONED_FIELDS]
        in_use = Subscription.all_organizations.filter(plan_id=plan.pk).exists() or (
            Subscription.all_organizations.filter(pending_plan_id=plan.pk).exists()
        )
        if not terms or not in_use:
            plan.save()
            audit_log(
                action="billing.plan_changed_in_place", actor=actor, target=plan, fields=changed
            )
            return plan
        values: dict[str, Any] = {
            field.name: getattr(plan, field.name)
            for field in Plan._meta.concrete_fields
            if field.name not in ("id", "version", "is_current", "created_at")
        }
        Plan.objects.filter(code=plan.code, is_current=True).update(is_current=False)
        # The old row stays as it was in the database (its subscribers' terms).
        if not plan.is_current:
            Plan.objects.filter(pk=plan.pk).update(is_current=False)
        version = (Plan.objects.filter(code=plan.code).aggregate(v=Max("version"))["v"] or 0) + 1
        new = Plan.objects.create(**values, version=version, is_current=True)
        audit_log(
            action="billing.plan_versioned", actor=actor, target=new, plan=str(new), fields=terms
        )
        return new
