"""Subscription changes: the free plan of every organization, upgrades (at once, prorated),
downgrades (at the period end unless asked for now), cancellation and its undoing, and who may
change billing. Each change writes the plan's entitlements in the same transaction."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import (
    FREE_PLAN_CODE,
    InvoiceLineKind,
    InvoiceReason,
    Plan,
    PlanInterval,
    Subscription,
    SubscriptionStatus,
)
from billing.money import add_interval, prorate
from billing.providers import CheckoutRequired, provider_get
from billing.services.entitlements import entitlements_apply
from billing.services.invoices import LineSpec, invoice_issue, plan_fee_line
from billing.services.usage import overage_line
from config.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from core.actor import Actor
from core.policies import is_admin, is_org_admin, is_org_owner
from ops.audit import audit_log
from tenants.models import Organization


@dataclass(frozen=True)
class ChangeResult:
    action: str  # applied | scheduled | redirect
    subscription: Subscription
    url: str = ""


def plan_current(*, code: str) -> Plan:
    plan = Plan.objects.filter(code=code, is_current=True).first()
    if plan is None:
        raise NotFoundError(f"No plan {code!r}.", code="PLAN_NOT_FOUND")
    return plan


def free_plan() -> Plan:
    """The free plan (created by the data migration; recreated, without limits, should its
    row be missing: every organization must always have a plan)."""
    plan = Plan.objects.filter(code=FREE_PLAN_CODE, is_current=True).first()
    if plan is None:
        plan, _ = Plan.objects.get_or_create(
            code=FREE_PLAN_CODE,
            is_current=True,
            defaults={"name": "Free", "price_minor": 0, "interval": PlanInterval.MONTH},
        )
    return plan


def can_manage_billing(actor: Actor, subscription: Subscription) -> bool:
    """Owners change billing; admins too when the owner allows it; the platform always."""
    if actor.system or is_org_owner(actor):
        return True
    return is_org_admin(actor) and subscription.admins_may_manage


def _require_manager(actor: Actor, subscription: Subscription) -> None:
    if not can_manage_billing(actor, subscription):
        raise PermissionDeniedError(
            "Only the organization's owner (or its admins, if the owner allows) changes billing."
        )


def subscription_ensure(*, organization: Organization, actor: Actor | None = None) -> Subscription:
    """The organization's subscription, created on the free plan when it has none."""
    existing = Subscription.all_organizations.filter(organization=organization).first()
    if existing is not None:
        return existing
    plan = free_plan()
    now = timezone.now()
    with transaction.atomic():
        subscription, created = Subscription.all_organizations.get_or_create(
            organization=organization,
            defaults={
                "plan": plan,
                "status": SubscriptionStatus.ACTIVE,
                "provider": settings.BILLING_PROVIDER,
                "current_period_start": now,
                "current_period_end": add_interval(now, plan.interval),
            },
        )
        if created:
            entitlements_apply(
                actor=actor or Actor(system=True), organization=organization, plan=plan
            )
    return subscription


def subscription_locked(*, organization_id: Any) -> Subscription:
    """The organization's subscription, row-locked (inside a transaction)."""
    subscription = (
        Subscription.all_organizations.select_for_update(of=("self",))
        .select_related("plan", "organization")
        .filter(organization_id=organization_id)
        .first()
    )
    if subscription is None:
        organization = Organization.objects.get(pk=organization_id)
        subscription_ensure(organization=organization)
        return subscription_locked(organization_id=organization_id)
    return subscription


def _organization_of(actor: Actor) -> Organization:
    if actor.organization is None:
        raise NotFoundError("No organization.", code="TENANT_NOT_FOUND")
    organization: Organization = actor.organization
    return organization


def _apply_plan(
    *,
    actor: Actor,
    subscription: Subscription,
    plan: Plan,
    status: str,
    reason: str,
    period: tuple[dt.datetime, dt.datetime] | None = None,
) -> None:
    """Switch the plan and write its entitlements (the caller holds the row lock)."""
    previous = subscription.plan
    subscription.plan = plan
    subscription.status = status
    subscription.pending_plan = None
    subscription.cancel_at_period_end = False
    if status != SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = None
    if period is not None:
        subscription.current_period_start, subscription.current_period_end = period
    subscription.save()
    entitlements_apply(
        actor=actor, organization=subscription.organization, plan=plan, previous=previous
    )
    audit_log(
        action="billing.plan_changed",
        actor=actor,
        target=subscription,
        organization=str(subscription.organization_id),
        plan_from=f"{previous.code} v{previous.version}",
        plan_to=f"{plan.code} v{plan.version}",
        status=status,
        reason=reason,
    )


def subscription_fall_back_to_free(
    *, actor: Actor, subscription: Subscription, reason: str, now: dt.datetime | None = None
) -> None:
    """End the paid plan: the free plan's entitlements from now (row lock held)."""
    now = now or timezone.now()
    plan = free_plan()
    subscription.provider_subscription_id = ""
    subscription.canceled_at = now
    subscription.trial_end = None
    _apply_plan(
        actor=actor,
        subscription=subscription,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        reason=reason,
        period=(now, add_interval(now, plan.interval)),
    )


def _is_upgrade(current: Plan, new: Plan) -> bool:
    return new.monthly_equivalent_x12 >= current.monthly_equivalent_x12


def _upgrade_lines(
    subscription: Subscription, plan: Plan, now: dt.datetime
) -> tuple[list[LineSpec], tuple[dt.datetime, dt.datetime]]:
    """The invoice lines of moving to ``plan`` now, and the period that follows.

    Same interval: the period stays; the unused part of the old fee is credited and the
    rest of the period charged at the new price. Another interval (or from the free plan):
    a new period starts now at the full new fee, with the same credit for the old one."""
    current = subscription.plan
    start, end = subscription.current_period_start, subscription.current_period_end
    lines: list[LineSpec] = []
    if current.price_minor:
        credit = prorate(
            price_minor=current.price_minor, period_start=start, period_end=end, at=now
        )
        if credit:
            lines.append(
                LineSpec(
                    kind=InvoiceLineKind.PRORATION,
                    description=f"Unused time on {current.name} (credit)",
                    amount_minor=-credit,
                    plan=current,
                    period_start=now,
                    period_end=end,
                )
            )
    if current.price_minor and current.interval == plan.interval:
        charge = prorate(price_minor=plan.price_minor, period_start=start, period_end=end, at=now)
        lines.append(
            LineSpec(
                kind=InvoiceLineKind.PRORATION,
                description=f"Remaining time on {plan.name}",
                amount_minor=charge,
                plan=plan,
                period_start=now,
                period_end=end,
            )
        )
        return lines, (start, end)
    new_end = add_interval(now, plan.interval)
    overage = overage_line(subscription=subscription, plan=current, start=start, end=now)
    if overage is not None:
        lines.append(overage)
    lines.append(plan_fee_line(plan, now, new_end))
    return lines, (now, new_end)


def subscription_change_plan(
    *, actor: Actor, plan_code: str, when: str = "", return_url: str = ""
) -> ChangeResult:
    """Move the actor's organization to the current version of ``plan_code``.

    Upgrades apply at once (prorated); downgrades wait for the period end unless
    ``when="now"``. With Stripe and no payment details yet the answer is a Checkout URL and
    nothing changes until Stripe confirms (webhook)."""
    organization = _organization_of(actor)
    plan = plan_current(code=plan_code)
    if not plan.is_public and not (actor.system or is_admin(actor)):
        raise NotFoundError(f"No plan {plan_code!r}.", code="PLAN_NOT_FOUND")
    now = timezone.now()
    with transaction.atomic():
        subscription = subscription_locked(organization_id=organization.pk)
        _require_manager(actor, subscription)
        current = subscription.plan
        if current.pk == plan.pk:
            if subscription.pending_plan_id is None:
                raise ConflictError("The organization is on this plan already.", code="SAME_PLAN")
            subscription.pending_plan = None
            subscription.save(update_fields=["pending_plan", "updated_at"])
            audit_log(
                action="billing.downgrade_withdrawn",
                actor=actor,
                target=subscription,
                organization=str(organization.pk),
            )
            return ChangeResult("applied", subscription)
        if current.price_minor and plan.price_minor and plan.currency != current.currency:
            raise ConflictError(
                "Plans in another currency start after cancelling this one.",
                code="CURRENCY_MISMATCH",
            )
        upgrade = _is_upgrade(current, plan)
        if not upgrade and when != "now":
            subscription.pending_plan = plan
            subscription.save(update_fields=["pending_plan", "updated_at"])
            audit_log(
                action="billing.downgrade_scheduled",
                actor=actor,
                target=subscription,
                organization=str(organization.pk),
                plan_to=f"{plan.code} v{plan.version}",
                at=subscription.current_period_end.isoformat(),
            )
            return ChangeResult("scheduled", subscription)
        provider = provider_get(
            subscription.provider
            if subscription.provider_subscription_id
            else settings.BILLING_PROVIDER
        )
        if plan.is_free:
            provider.subscription_cancel(subscription=subscription, immediately=True)
            subscription_fall_back_to_free(
                actor=actor, subscription=subscription, reason="downgrade", now=now
            )
            return ChangeResult("applied", subscription)
        if provider.issues_invoices and not subscription.provider_subscription_id:
            checkout = provider.subscription_start(
                subscription=subscription, plan=plan, return_url=return_url
            )
            if isinstance(checkout, CheckoutRequired):
                audit_log(
                    action="billing.checkout_started",
                    actor=actor,
                    target=subscription,
                    organization=str(organization.pk),
                    plan_to=f"{plan.code} v{plan.version}",
                )
                return ChangeResult("redirect", subscription, url=checkout.url)
        if provider.issues_invoices:
            provider.subscription_change(subscription=subscription, plan=plan, prorate=upgrade)
            _apply_plan(
                actor=actor,
                subscription=subscription,
                plan=plan,
                status=subscription.status,
                reason="upgrade" if upgrade else "downgrade",
            )
            return ChangeResult("applied", subscription)
        _change_manual(actor, subscription, plan, upgrade=upgrade, now=now)
        return ChangeResult("applied", subscription)


def _change_manual(
    actor: Actor, subscription: Subscription, plan: Plan, *, upgrade: bool, now: dt.datetime
) -> None:
    """The manual provider: the product prices the change and issues the invoice."""
    current = subscription.plan
    if current.is_free and plan.trial_days:
        trial_end = now + dt.timedelta(days=plan.trial_days)
        subscription.trial_end = trial_end
        _apply_plan(
            actor=actor,
            subscription=subscription,
            plan=plan,
            status=SubscriptionStatus.TRIALING,
            reason="trial",
            period=(now, trial_end),
        )
        return
    if not upgrade:
        # A downgrade now keeps the period and issues no credit (documented in the README).
        _apply_plan(
            actor=actor,
            subscription=subscription,
            plan=plan,
            status=subscription.status,
            reason="downgrade",
        )
        return
    lines, period = _upgrade_lines(subscription, plan, now)
    _apply_plan(
        actor=actor,
        subscription=subscription,
        plan=plan,
        status=(
            subscription.status
            if subscription.status == SubscriptionStatus.PAST_DUE
            else SubscriptionStatus.ACTIVE
        ),
        reason="upgrade",
        period=period,
    )
    if lines:
        invoice_issue(
            subscription=subscription,
            reason=InvoiceReason.SUBSCRIPTION_UPDATE,
            lines=lines,
            period_start=now,
            period_end=period[1],
            currency=plan.currency,
            provider="manual",
            now=now,
        )


def subscription_cancel(*, actor: Actor, immediately: bool = False) -> Subscription:
    """Cancel the paid plan at the period end (the free plan follows), or at once."""
    organization = _organization_of(actor)
    with transaction.atomic():
        subscription = subscription_locked(organization_id=organization.pk)
        _require_manager(actor, subscription)
        if subscription.plan.is_free:
            raise ConflictError("The free plan cannot be cancelled.", code="NOTHING_TO_CANCEL")
        provider = provider_get(subscription.provider)
        provider.subscription_cancel(subscription=subscription, immediately=immediately)
        if immediately:
            subscription_fall_back_to_free(
                actor=actor, subscription=subscription, reason="cancel_immediately"
            )
            return subscription
        subscription.cancel_at_period_end = True
        subscription.canceled_at = timezone.now()
        subscription.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
        audit_log(
            action="billing.cancel_scheduled",
            actor=actor,
            target=subscription,
            organization=str(organization.pk),
            at=subscription.current_period_end.isoformat(),
        )
        return subscription


def subscription_resume(*, actor: Actor) -> Subscription:
    """Undo a cancellation at the period end, before the end comes."""
    organization = _organization_of(actor)
    with transaction.atomic():
        subscription = subscription_locked(organization_id=organization.pk)
        _require_manager(actor, subscription)
        if not subscription.cancel_at_period_end:
            raise ConflictError("The subscription is not being cancelled.", code="NOT_CANCELING")
        provider_get(subscription.provider).subscription_resume(subscription=subscription)
        subscription.cancel_at_period_end = False
        subscription.canceled_at = None
        subscription.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
        audit_log(
            action="billing.cancel_withdrawn",
            actor=actor,
            target=subscription,
            organization=str(organization.pk),
        )
        return subscription


def subscription_settings_update(*, actor: Actor, admins_may_manage: bool) -> Subscription:
    """The owner lets the organization's admins change billing (or stops them)."""
    organization = _organization_of(actor)
    if not (actor.system or is_org_owner(actor)):
        raise PermissionDeniedError("Only the organization's owner decides who changes billing.")
    with transaction.atomic():
        subscription = subscription_locked(organization_id=organization.pk)
        if subscription.admins_may_manage != admins_may_manage:
            subscription.admins_may_manage = admins_may_manage
            subscription.save(update_fields=["admins_may_manage", "updated_at"])
            audit_log(
                action="billing.settings_changed",
                actor=actor,
                target=subscription,
                organization=str(organization.pk),
                admins_may_manage=admins_may_manage,
            )
        return subscription


def subscription_portal_url(*, actor: Actor, return_url: str) -> str:
    """Where the owner updates payment details (Stripe's Billing Portal)."""
    organization = _organization_of(actor)
    subscription = subscription_locked_read(organization_id=organization.pk)
    _require_manager(actor, subscription)
    url = provider_get(subscription.provider).portal_url(
        subscription=subscription, return_url=return_url
    )
    if not url:
        raise ApplicationError(
            "This installation's billing has no payment portal.",
            code="NO_PAYMENT_PORTAL",
            status_code=409,
        )
    return url


def subscription_locked_read(*, organization_id: Any) -> Subscription:
    with transaction.atomic():
        return subscription_locked(organization_id=organization_id)


__all__ = [
    "PlanInterval",
    "can_manage_billing",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_ensure",
    "subscription_fall_back_to_free",
    "subscription_resume",
    "subscription_settings_update",
]
