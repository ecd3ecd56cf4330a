"""What Stripe's events change here (called inside the inbox row's transaction).

Stripe may deliver events late and out of order. Each subscription keeps the ``created`` time of
the newest event applied to it; an older event never moves it backwards (outcome ``stale``).
Invoices are mirrored by Stripe's id and only move forward (``draft`` < ``open`` < final).
"""

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from billing.models import (
    BillingProvider,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceReason,
    InvoiceStatus,
    PaymentEvent,
    PaymentEventOutcome,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from billing.services.subscriptions import (
    _apply_plan,
    subscription_ensure,
    subscription_fall_back_to_free,
)
from core.actor import Actor
from ops.audit import audit_log
from tenants.models import Organization

_STATUS = {
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "incomplete_expired": SubscriptionStatus.CANCELED,
    "canceled": SubscriptionStatus.CANCELED,
    "paused": SubscriptionStatus.PAST_DUE,
}
_INVOICE_RANK = {"draft": 0, "open": 1, "paid": 2, "void": 2, "uncollectible": 2}


def _ts(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC) if value else None


def _subscription_for(obj: dict[str, Any], *, remote_id: str = "") -> Subscription | None:
    """The local subscription a Stripe object is about: by the organization in its metadata,
    else by the Stripe subscription or customer id it names. Locked."""
    metadata = obj.get("metadata") or {}
    organization_id = metadata.get("organization_id") or obj.get("client_reference_id")
    queryset = Subscription.all_organizations.select_for_update(of=("self",)).select_related(
        "plan", "organization"
    )
    if organization_id and _is_uuid(organization_id):
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is not None:
            subscription_ensure(organization=organization)
            return queryset.get(organization=organization)
    if remote_id:
        found = queryset.filter(provider_subscription_id=remote_id).first()
        if found is not None:
            return found
    customer = obj.get("customer")
    if customer:
        return queryset.filter(provider_customer_id=customer).first()
    return None


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _is_stale(subscription: Subscription, event: PaymentEvent) -> bool:
    last = subscription.provider_event_at
    return last is not None and event.event_created < last


def _plan_for_price(price_id: str) -> Plan | None:
    return (
        Plan.objects.filter(stripe_price_id=price_id).order_by("-is_current", "-version").first()
        if price_id
        else None
    )


def _subscription_event(event: PaymentEvent, obj: dict[str, Any], *, deleted: bool) -> str:
    remote_id = str(obj.get("id") or "")
    subscription = _subscription_for(obj, remote_id=remote_id)
    if subscription is None:
        return str(PaymentEventOutcome.IGNORED)
    if _is_stale(subscription, event):
        return str(PaymentEventOutcome.STALE)
    actor = Actor(system=True)
    subscription.provider = BillingProvider.STRIPE
    subscription.provider_event_at = event.event_created
    if obj.get("customer"):
        subscription.provider_customer_id = str(obj["customer"])
    status = _STATUS.get(str(obj.get("status") or ""), SubscriptionStatus.INCOMPLETE)
    if deleted or status == SubscriptionStatus.CANCELED:
        if subscription.provider_subscription_id in ("", remote_id):
            subscription_fall_back_to_free(
                actor=actor, subscription=subscription, reason="provider_canceled"
            )
        else:
            subscription.save()
        return str(PaymentEventOutcome.PROCESSED)
    items = ((obj.get("items") or {}).get("data")) or [{}]
    item = items[0]
    plan = _plan_for_price(str((item.get("price") or {}).get("id") or ""))
    start = _ts(obj.get("current_period_start") or item.get("current_period_start"))
    end = _ts(obj.get("current_period_end") or item.get("current_period_end"))
    subscription.provider_subscription_id = remote_id
    subscription.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    subscription.trial_end = _ts(obj.get("trial_end"))
    if status == SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = subscription.past_due_since or timezone.now()
    period = (start, end) if start and end else None
    cancel_at_period_end = subscription.cancel_at_period_end
    if plan is not None and plan.pk != subscription.plan_id:
        _apply_plan(
            actor=actor,
            subscription=subscription,
            plan=plan,
            status=status,
            reason="provider_update",
            period=period,
        )
        if cancel_at_period_end:
            subscription.cancel_at_period_end = True
            subscription.save(update_fields=["cancel_at_period_end", "updated_at"])
        return str(PaymentEventOutcome.PROCESSED)
    previous_status = subscription.status
    subscription.status = status
    if status != SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = None
    if period is not None:
        subscription.current_period_start, subscription.current_period_end = period
    subscription.save()
    if previous_status != status:
        audit_log(
            action="billing.status_changed",
            actor=actor,
            target=subscription,
            organization=str(subscription.organization_id),
            status_from=previous_status,
            status_to=status,
        )
    return str(PaymentEventOutcome.PROCESSED)


def _invoice_event(event: PaymentEvent, obj: dict[str, Any], *, status: str) -> str:
    remote_subscription = str(obj.get("subscription") or "")
    subscription = _subscription_for(
        {"customer": obj.get("customer"), "metadata": obj.get("metadata") or {}},
        remote_id=remote_subscription,
    )
    if subscription is None:
        return str(PaymentEventOutcome.IGNORED)
    invoice = Invoice.all_organizations.filter(
        provider=BillingProvider.STRIPE, provider_invoice_id=str(obj.get("id"))
    ).first()
    if invoice is not None and _INVOICE_RANK.get(invoice.status, 0) >= _INVOICE_RANK[status]:
        # Already as far or further (a late "failed" after "paid"): invoices never go back.
        updated_invoice = invoice
    else:
        updated_invoice = _invoice_mirror(subscription, obj, status, invoice)
    if not _is_stale(subscription, event):
        subscription.provider_event_at = event.event_created
        if status == InvoiceStatus.PAID and subscription.status == SubscriptionStatus.PAST_DUE:
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.past_due_since = None
        elif status == InvoiceStatus.OPEN and subscription.status in (
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.TRIALING,
        ):
            subscription.status = SubscriptionStatus.PAST_DUE
            subscription.past_due_since = subscription.past_due_since or timezone.now()
        subscription.save()
    audit_log(
        action=f"billing.invoice_{'paid' if status == InvoiceStatus.PAID else 'payment_failed'}",
        actor=Actor(system=True),
        target=updated_invoice,
        organization=str(subscription.organization_id),
        number=updated_invoice.number,
    )
    return str(PaymentEventOutcome.PROCESSED)


def _invoice_mirror(
    subscription: Subscription, obj: dict[str, Any], status: str, invoice: Invoice | None
) -> Invoice:
    now = timezone.now()
    fields = {
        "organization_id": subscription.organization_id,
        "subscription": subscription,
        "reason": InvoiceReason.PROVIDER,
        "status": status,
        "provider": BillingProvider.STRIPE,
        "provider_invoice_id": str(obj.get("id")),
        "number": (str(obj.get("number")) if obj.get("number") else None),
        "hosted_url": str(obj.get("hosted_invoice_url") or "")[:1000],
        "currency": str(obj.get("currency") or subscription.plan.currency).upper()[:3],
        "subtotal_minor": int(obj.get("subtotal") or 0),
        "total_minor": int(obj.get("total") or 0),
        "amount_paid_minor": int(obj.get("amount_paid") or 0),
        "period_start": _ts(obj.get("period_start")) or now,
        "period_end": _ts(obj.get("period_end")) or now,
        "issued_at": _ts(obj.get("created")) or now,
        "due_at": _ts(obj.get("due_date")),
        "paid_at": now if status == InvoiceStatus.PAID else None,
    }
    if invoice is None:
        invoice = Invoice.all_organizations.create(**fields)
    else:
        for name, value in fields.items():
            setattr(invoice, name, value)
        invoice.save()
        invoice.lines.all().delete()
    lines = ((obj.get("lines") or {}).get("data")) or []
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                kind=InvoiceLineKind.PRORATION if line.get("proration") else InvoiceLineKind.PLAN,
                description=str(line.get("description") or "")[:255] or "Subscription",
                quantity=int(line.get("quantity") or 1),
                amount_minor=int(line.get("amount") or 0),
                period_start=_ts((line.get("period") or {}).get("start")),
                period_end=_ts((line.get("period") or {}).get("end")),
            )
            for line in lines
        ]
    )
    return invoice


def stripe_event_apply(*, event: PaymentEvent) -> str:
    obj = ((event.payload or {}).get("data") or {}).get("object") or {}
    kind = event.event_type
    if kind == "checkout.session.completed":
        subscription = _subscription_for(obj, remote_id=str(obj.get("subscription") or ""))
        if subscription is None:
            return str(PaymentEventOutcome.IGNORED)
        subscription.provider = BillingProvider.STRIPE
        subscription.provider_customer_id = str(obj.get("customer") or "")
        if obj.get("subscription") and not subscription.provider_subscription_id:
            subscription.provider_subscription_id = str(obj["subscription"])
        subscription.save()
        return str(PaymentEventOutcome.PROCESSED)
    if kind in ("customer.subscription.created", "customer.subscription.updated"):
        return _subscription_event(event, obj, deleted=False)
    if kind == "customer.subscription.deleted":
        return _subscription_event(event, obj, deleted=True)
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        return _invoice_event(event, obj, status=InvoiceStatus.PAID)
    if kind == "invoice.payment_failed":
        return _invoice_event(event, obj, status=InvoiceStatus.OPEN)
    return str(PaymentEventOutcome.IGNORED)
