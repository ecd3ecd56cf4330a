"""Invoices the product issues (manual provider, period closes), numbering, payment by a
platform admin, and the downloadable document."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceNumberSequence,
    InvoiceStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from billing.money import format_minor
from config.exceptions import ConflictError, PermissionDeniedError
from core.actor import Actor
from core.policies import is_admin
from ops.audit import audit_log


@dataclass(frozen=True)
class LineSpec:
    kind: str
    description: str
    amount_minor: int
    quantity: int = 1
    plan: Plan | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None


def plan_fee_line(plan: Plan, start: dt.datetime, end: dt.datetime) -> LineSpec:
    """The fee of ``plan`` for the period ``[start, end)``."""
    return LineSpec(
        kind=InvoiceLineKind.PLAN,
        description=f"{plan.name} ({plan.get_interval_display().lower()})",
        amount_minor=plan.price_minor,
        plan=plan,
        period_start=start,
        period_end=end,
    )


def invoice_number_next(*, at: dt.datetime) -> str:
    """The next gap-free number of the year (``INV-2026-000001``); locks the sequence row."""
    prefix = settings.BILLING_INVOICE_PREFIX
    sequence, _ = InvoiceNumberSequence.objects.select_for_update(of=("self",)).get_or_create(
        prefix=prefix, year=at.year
    )
    InvoiceNumberSequence.objects.filter(pk=sequence.pk).update(last=F("last") + 1)
    sequence.refresh_from_db(fields=["last"])
    return f"{prefix}-{at.year}-{sequence.last:06d}"


def invoice_issue(
    *,
    subscription: Subscription,
    reason: str,
    lines: list[LineSpec],
    period_start: dt.datetime,
    period_end: dt.datetime,
    currency: str,
    provider: str,
    now: dt.datetime | None = None,
) -> Invoice:
    """Create a numbered invoice with its lines (in the caller's transaction). A total of
    zero is paid at once; otherwise it is open, due in ``BILLING_INVOICE_DUE_DAYS``."""
    now = now or timezone.now()
    total = sum(line.amount_minor for line in lines)
    paid = total <= 0
    invoice = Invoice.all_organizations.create(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=reason,
        status=InvoiceStatus.PAID if paid else InvoiceStatus.OPEN,
        provider=provider,
        currency=currency.upper(),
        subtotal_minor=total,
        total_minor=total,
        amount_paid_minor=max(0, total) if paid else 0,
        period_start=period_start,
        period_end=period_end,
        issued_at=now,
        due_at=now + dt.timedelta(days=settings.BILLING_INVOICE_DUE_DAYS),
        paid_at=now if paid else None,
    )
    invoice.number = invoice_number_next(at=now)
    invoice.save(update_fields=["number"])
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                kind=line.kind,
                description=line.description[:255],
                quantity=line.quantity,
                amount_minor=line.amount_minor,
                plan=line.plan,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in lines
        ]
    )
    audit_log(
        action="billing.invoice_issued",
        target=invoice,
        organization=str(subscription.organization_id),
        number=invoice.number,
        total_minor=total,
        currency=invoice.currency,
        reason=reason,
    )
    return invoice


def invoice_mark_paid(*, actor: Actor, invoice: Invoice) -> Invoice:
    """A platform admin records the payment of an invoice the product issued (manual
    provider); a past-due subscription with nothing else overdue is active again."""
    if not (actor.system or is_admin(actor)):
        raise PermissionDeniedError("Only platform administrators record payments.")
    with transaction.atomic():
        invoice = Invoice.all_organizations.select_for_update(of=("self",)).get(pk=invoice.pk)
        if invoice.provider != "manual":
            raise ConflictError(
                "The payment provider is the source of truth for this invoice.",
                code="PROVIDER_MANAGED",
            )
        if invoice.status != InvoiceStatus.OPEN:
            raise ConflictError(
                f"Only open invoices can be marked paid (this one is {invoice.status}).",
                code="INVOICE_NOT_OPEN",
            )
        now = timezone.now()
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = now
        invoice.amount_paid_minor = invoice.total_minor
        invoice.save(update_fields=["status", "paid_at", "amount_paid_minor"])
        subscription = invoice.subscription
        if subscription is not None and subscription.status == SubscriptionStatus.PAST_DUE:
            overdue = Invoice.all_organizations.filter(
                subscription=subscription, status=InvoiceStatus.OPEN, due_at__lt=now
            ).exists()
            if not overdue:
                Subscription.all_organizations.filter(pk=subscription.pk).update(
                    status=SubscriptionStatus.ACTIVE, past_due_since=None, updated_at=now
                )
        audit_log(
            action="billing.invoice_paid",
            actor=actor,
            target=invoice,
            organization=str(invoice.organization_id),
            number=invoice.number,
            total_minor=invoice.total_minor,
        )
    return invoice


def invoice_render_html(*, invoice: Invoice) -> str:
    """The invoice as a standalone HTML document (what the download answers)."""
    lines = list(invoice.lines.all())
    return render_to_string(
        "billing/invoice.html",
        {
            "invoice": invoice,
            "organization": invoice.organization,
            "seller": settings.BILLING_SELLER_NAME,
            "lines": [
                {"line": line, "amount": format_minor(line.amount_minor, invoice.currency)}
                for line in lines
            ],
            "total": format_minor(invoice.total_minor, invoice.currency),
            "paid": format_minor(invoice.amount_paid_minor, invoice.currency),
        },
    )
