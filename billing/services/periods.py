"""The close of billing periods and the end of grace: run by the periodic task and the
``close_billing_period`` command, idempotent however often and wherever they run.

- A period that ended is closed once: its metered overage (plans that bill it) and, with the
  manual provider, the next period's fee become one invoice. The subscription row is locked
  and the period moved on in the same transaction, and a unique constraint on
  (organization, period start) of period-close invoices is the backstop: a re-run, a second
  worker or a crash between steps never bills a period twice.
- At the close a scheduled downgrade or cancellation takes effect, a trial ends, and a plan
  whose price changed moves to its current version.
- A manual invoice past its due date makes the subscription ``past_due``; a subscription
  ``past_due`` for ``BILLING_PAST_DUE_GRACE_DAYS`` falls back to the free plan.
"""

import datetime as dt
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.models import (
    Invoice,
    InvoiceReason,
    InvoiceStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from billing.money import add_interval
from billing.providers import provider_get
from billing.services.invoices import LineSpec, invoice_issue, plan_fee_line
from billing.services.subscriptions import (
    _apply_plan,
    free_plan,
    subscription_fall_back_to_free,
)
from billing.services.usage import overage_line
from core.actor import Actor
from ops.audit import audit_log

logger = structlog.get_logger(__name__)

# Periods closed per subscription in one run (a server that was off for months catches up
# over the next runs instead of in one long transaction).
_MAX_CLOSES_PER_RUN = 24


def _next_plan(subscription: Subscription) -> Plan:
    if subscription.cancel_at_period_end:
        return free_plan()
    if subscription.pending_plan is not None:
        return subscription.pending_plan
    plan = subscription.plan
    if plan.is_current:
        return plan
    # A price change made a new version: the subscription gets it at renewal.
    return Plan.objects.filter(code=plan.code, is_current=True).first() or plan


def subscription_period_close(
    *, subscription_id: Any, now: dt.datetime | None = None
) -> Invoice | None:
    """Close the subscription's period if it has ended; returns the invoice it issued."""
    now = now or timezone.now()
    actor = Actor(system=True)
    try:
        with transaction.atomic():
            subscription = (
                Subscription.all_organizations.select_for_update(of=("self",))
                .select_related("plan", "pending_plan", "organization")
                .get(pk=subscription_id)
            )
            start, end = subscription.current_period_start, subscription.current_period_end
            if end > now:
                return None  # closed already (another run), or not due
            if Invoice.all_organizations.filter(
                organization_id=subscription.organization_id,
                reason=InvoiceReason.PERIOD_CLOSE,
                period_start=start,
            ).exists():
                return None  # billed; the provider's webhook moves the period on
            plan = subscription.plan
            lines: list[LineSpec] = []
            overage = overage_line(subscription=subscription, plan=plan, start=start, end=end)
            if overage is not None:
                lines.append(overage)
            provider = provider_get(subscription.provider)
            if provider.issues_invoices and subscription.provider_subscription_id:
                # The provider renews and bills the fee; the product adds the overage and
                # hands over a downgrade scheduled for this period end.
                invoice = _close_provider_period(subscription, lines, start, end, now)
                _provider_pending_apply(subscription, actor, now)
                return invoice
            next_plan = _next_plan(subscription)
            next_end = add_interval(end, next_plan.interval)
            if next_plan.price_minor:
                lines.append(plan_fee_line(next_plan, end, next_end))
            invoice = None
            if lines:
                invoice = invoice_issue(
                    subscription=subscription,
                    reason=InvoiceReason.PERIOD_CLOSE,
                    lines=lines,
                    period_start=start,
                    period_end=end,
                    currency=(overage.plan if overage else next_plan).currency,  # type: ignore[union-attr]
                    provider="manual",
                    now=now,
                )
            status = subscription.status
            if status == SubscriptionStatus.TRIALING:
                status = SubscriptionStatus.ACTIVE
            if next_plan.pk != plan.pk or subscription.cancel_at_period_end:
                reason = "period_end_cancel" if subscription.cancel_at_period_end else "renewal"
                if next_plan.is_free:
                    status = SubscriptionStatus.ACTIVE
                    subscription.canceled_at = subscription.canceled_at or now
                subscription.trial_end = None
                _apply_plan(
                    actor=actor,
                    subscription=subscription,
                    plan=next_plan,
                    status=status,
                    reason=reason,
                    period=(end, next_end),
                )
            else:
                subscription.status = status
                subscription.trial_end = None
                subscription.current_period_start, subscription.current_period_end = end, next_end
                subscription.save()
            audit_log(
                action="billing.period_closed",
                actor=actor,
                target=subscription,
                organization=str(subscription.organization_id),
                period_start=start.isoformat(),
                period_end=end.isoformat(),
                invoice=invoice.number if invoice else None,
            )
            return invoice
    except IntegrityError:
        # Another process closed this very period between our check and insert.
        logger.info("billing_period_close_raced", subscription=str(subscription_id))
        return None


def _close_provider_period(
    subscription: Subscription,
    lines: list[LineSpec],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> Invoice | None:
    if not lines:
        return None
    invoice = invoice_issue(
        subscription=subscription,
        reason=InvoiceReason.PERIOD_CLOSE,
        lines=lines,
        period_start=start,
        period_end=end,
        currency=subscription.plan.currency,
        provider=subscription.provider,
        now=now,
    )
    # The provider collects it with its next invoice; here it stays a draft record of what was
    # handed over (the provider's invoice is the one to pay).
    item_id = provider_get(subscription.provider).overage_charge(
        subscription=subscription, invoice=invoice
    )
    invoice.status = InvoiceStatus.DRAFT
    invoice.paid_at = None
    invoice.provider_invoice_id = item_id
    invoice.save(update_fields=["status", "paid_at", "provider_invoice_id"])
    return invoice


def _provider_pending_apply(subscription: Subscription, actor: Actor, now: dt.datetime) -> None:
    pending = subscription.pending_plan
    if pending is None or subscription.cancel_at_period_end:
        return  # a cancellation at the period end is the provider's (its webhook follows)
    provider = provider_get(subscription.provider)
    if pending.is_free:
        provider.subscription_cancel(subscription=subscription, immediately=True)
        subscription_fall_back_to_free(
            actor=actor, subscription=subscription, reason="renewal", now=now
        )
        return
    provider.subscription_change(subscription=subscription, plan=pending, prorate=False)
    _apply_plan(
        actor=actor,
        subscription=subscription,
        plan=pending,
        status=subscription.status,
        reason="renewal",
    )


def billing_periods_close(*, now: dt.datetime | None = None) -> int:
    """Close every ended period (each subscription in its own transaction); returns how many
    invoices were issued."""
    now = now or timezone.now()
    issued = 0
    for _ in range(_MAX_CLOSES_PER_RUN):
        billed = Invoice.all_organizations.filter(
            reason=InvoiceReason.PERIOD_CLOSE,
            organization_id=OuterRef("organization_id"),
            period_start=OuterRef("current_period_start"),
        )
        due = list(
            Subscription.all_organizations.filter(current_period_end__lte=now)
            .exclude(Exists(billed))
            .values_list("pk", flat=True)[:500]
        )
        if not due:
            break
        progressed = False
        for subscription_id in due:
            try:
                invoice = subscription_period_close(subscription_id=subscription_id, now=now)
            except Exception:
                # One organization's failure (a provider outage) must not stop the others.
                logger.exception("billing_period_close_failed", subscription=str(subscription_id))
                continue
            if invoice is not None:
                issued += 1
            progressed = True
        if not progressed:
            break
    return issued


def subscriptions_past_due_sweep(*, now: dt.datetime | None = None) -> int:
    """Overdue manual invoices make their subscription ``past_due``; a grace period that
    ended falls back to the free plan (its lower entitlements in the same transaction)."""
    now = now or timezone.now()
    overdue_subscriptions = (
        Invoice.all_organizations.filter(
            provider="manual", status=InvoiceStatus.OPEN, due_at__lt=now, subscription__isnull=False
        )
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    for subscription_id in list(overdue_subscriptions):
        with transaction.atomic():
            subscription = Subscription.all_organizations.select_for_update(of=("self",)).get(
                pk=subscription_id
            )
            if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
                subscription.status = SubscriptionStatus.PAST_DUE
                subscription.past_due_since = now
                subscription.save(update_fields=["status", "past_due_since", "updated_at"])
                audit_log(
                    action="billing.past_due",
                    actor=Actor(system=True),
                    target=subscription,
                    organization=str(subscription.organization_id),
                )
    ended = 0
    limit = now - dt.timedelta(days=settings.BILLING_PAST_DUE_GRACE_DAYS)
    expired = Subscription.all_organizations.filter(
        status=SubscriptionStatus.PAST_DUE, past_due_since__lte=limit
    ).values_list("pk", flat=True)
    for subscription_id in list(expired):
        try:
            with transaction.atomic():
                subscription = (
                    Subscription.all_organizations.select_for_update(of=("self",))
                    .select_related("plan", "organization")
                    .get(pk=subscription_id)
                )
                if subscription.status != SubscriptionStatus.PAST_DUE:
                    continue
                provider_get(subscription.provider).subscription_cancel(
                    subscription=subscription, immediately=True
                )
                subscription_fall_back_to_free(
                    actor=Actor(system=True),
                    subscription=subscription,
                    reason="grace_ended",
                    now=now,
                )
                ended += 1
        except Exception:
            logger.exception("billing_grace_end_failed", subscription=str(subscription_id))
    return ended
