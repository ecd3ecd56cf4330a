"""Entitlements: limits follow the plan at once; past-due grace; caps refused with PLAN_LIMIT;
metered overage billed exactly once however often the period is closed."""

import datetime as dt

import pytest
from django.core.management import call_command

from billing.models import (
    Invoice,
    InvoiceLineKind,
    InvoiceReason,
    InvoiceStatus,
    SubscriptionStatus,
)
from billing.services.invoices import invoice_mark_paid
from billing.services.periods import (
    billing_periods_close,
    subscription_period_close,
    subscriptions_past_due_sweep,
)
from billing.services.subscriptions import subscription_change_plan
from core.actor import Actor
from metering.models import OrganizationQuota, UsageRecord
from tenants.limits import PlanLimitError, organization_member_cap_check
from tenants.models import Membership
from tests.accounts.helpers import assert_envelope
from tests.billing.conftest import subscription_of
from tests.factories import UserFactory


def _owner_actor(owner, organization):
    return Actor(user=owner, organization=organization, membership_role="owner")


@pytest.mark.django_db
def test_past_due_keeps_the_plan_for_the_grace_then_falls_back_to_free(
    plans, owner, organization, settings
):
    settings.BILLING_INVOICE_DUE_DAYS = 14
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    subscription_change_plan(actor=_owner_actor(owner, organization), plan_code="pro")
    invoice = Invoice.all_organizations.get(organization=organization)
    due = invoice.due_at

    # Not due yet: nothing happens.
    subscriptions_past_due_sweep(now=due - dt.timedelta(hours=1))
    assert subscription_of(organization).status == SubscriptionStatus.ACTIVE
    # Overdue: past_due, and the plan's limits stay during the grace.
    subscriptions_past_due_sweep(now=due + dt.timedelta(hours=1))
    subscription = subscription_of(organization)
    assert subscription.status == SubscriptionStatus.PAST_DUE
    assert subscription.plan.code == "pro"
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 1_000_000
    assert subscriptions_past_due_sweep(now=due + dt.timedelta(days=6)) == 0
    assert subscription_of(organization).plan.code == "pro"
    # The grace ends: the free plan's limits, in the same transaction.
    assert subscriptions_past_due_sweep(now=due + dt.timedelta(days=7, hours=2)) == 1
    subscription = subscription_of(organization)
    assert subscription.plan.code == "free"
    assert subscription.status == SubscriptionStatus.ACTIVE
    organization.refresh_from_db()
    assert organization.max_members is None
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens is None


@pytest.mark.django_db
def test_paying_the_overdue_invoice_ends_past_due(plans, owner, organization, admin_user):
    subscription_change_plan(actor=_owner_actor(owner, organization), plan_code="pro")
    invoice = Invoice.all_organizations.get(organization=organization)
    subscriptions_past_due_sweep(now=invoice.due_at + dt.timedelta(hours=1))
    assert subscription_of(organization).status == SubscriptionStatus.PAST_DUE
    # Only platform admins record payments.
    with pytest.raises(Exception) as refused:
        invoice_mark_paid(actor=_owner_actor(owner, organization), invoice=invoice)
    assert getattr(refused.value, "status_code", None) == 403
    invoice_mark_paid(actor=Actor(user=admin_user), invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 2000
    assert subscription_of(organization).status == SubscriptionStatus.ACTIVE


@pytest.mark.django_db
def test_member_cap_refuses_with_plan_limit(plans, owner, organization):
    subscription_change_plan(actor=_owner_actor(owner, organization), plan_code="starter")
    organization.refresh_from_db()
    for _ in range(2):  # the owner plus two: the starter plan's 3
        organization_member_cap_check(organization=organization)
        Membership.objects.create(organization=organization, user=UserFactory(), role="member")
    with pytest.raises(PlanLimitError) as refused:
        organization_member_cap_check(organization=organization)
    assert refused.value.error_code == "PLAN_LIMIT"
    assert refused.value.status_code == 403
    assert refused.value.details == {"limit": "members", "max": 3, "current": 3}


@pytest.mark.django_db
def test_document_cap_refuses_uploads_with_plan_limit(plans, owner, owner_client, organization):
    from billing.models import Plan
    from tests.billing.conftest import make_plan

    make_plan("tiny", price_minor=100, max_documents=1)
    assert Plan.objects.get(code="tiny").max_documents == 1
    owner_client.post("/api/v1/subscription/upgrade/tiny", {}, format="json")

    def upload(name, text):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return owner_client.post(
            "/api/v1/documents",
            {"file": SimpleUploadedFile(name, text.encode(), content_type="text/plain")},
            format="multipart",
        )

    first = upload("a.txt", "first document")
    assert first.status_code in (200, 201, 202), first.content
    body = assert_envelope(upload("b.txt", "second document"), 403, "PLAN_LIMIT")
    assert body["details"]["limit"] == "max_documents"


@pytest.mark.django_db
def test_overage_is_billed_exactly_once_across_two_period_closes(plans, owner, organization):
    subscription_change_plan(actor=_owner_actor(owner, organization), plan_code="metered")
    subscription = subscription_of(organization)
    # With overage billed the monthly budget stays open (usage past it is billed, not refused).
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens is None
    start, end = subscription.current_period_start, subscription.current_period_end
    for tokens in (900, 1_600):  # 2,500 chat tokens against 1,000 included
        UsageRecord.objects.create(
            user=owner,
            organization=organization,
            kind="chat",
            provider="offline",
            model="m",
            total_tokens=tokens,
            created_at=start + dt.timedelta(hours=1),
        )
    UsageRecord.objects.create(  # embeddings are metered, not billed
        user=owner,
        organization=organization,
        kind="embedding",
        provider="offline",
        model="e",
        total_tokens=50_000,
        created_at=start + dt.timedelta(hours=2),
    )
    after = (end + dt.timedelta(minutes=5)).isoformat()
    call_command("close_billing_period", "--now", after)
    call_command("close_billing_period", "--now", after)
    # A second worker closing the same period at the same moment finds it closed.
    assert subscription_period_close(subscription_id=subscription.pk, now=end) is None
    assert billing_periods_close(now=end + dt.timedelta(minutes=5)) == 0

    closes = Invoice.all_organizations.filter(
        organization=organization, reason=InvoiceReason.PERIOD_CLOSE
    )
    assert closes.count() == 1
    invoice = closes.get()
    overage = invoice.lines.get(kind=InvoiceLineKind.OVERAGE)
    assert overage.quantity == 1_500
    assert overage.amount_minor == 75  # 1.5 thousand tokens at 50
    fee = invoice.lines.get(kind=InvoiceLineKind.PLAN)
    assert fee.amount_minor == 1000 and fee.period_start == end
    assert invoice.total_minor == 1075
    assert invoice.period_start == start and invoice.period_end == end
    assert subscription_of(organization).current_period_start == end
