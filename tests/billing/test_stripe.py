"""The Stripe adapter through the official SDK against the local fake Stripe server: customer,
Checkout, plan changes, cancellation, invoices paid and failed, overage as an invoice item."""

import datetime as dt
import time

import pytest

from billing.models import Invoice, InvoiceReason, InvoiceStatus, PaymentEvent, SubscriptionStatus
from metering.models import OrganizationQuota, UsageRecord
from tests.accounts.helpers import assert_envelope
from tests.billing.conftest import WEBHOOK_SECRET, subscription_of
from tests.fakes.stripe_server import signed_event

HOOK = "/api/v1/billing/webhooks/stripe"


def deliver(api_client, event_type, obj, *, created=None, event_id=None):
    event = {
        "id": event_id or f"evt_{event_type}_{time.monotonic_ns()}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }
    body, signature = signed_event(event, WEBHOOK_SECRET)
    return api_client.post(
        HOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def subscribe_through_checkout(fake_stripe, api_client, owner_client, organization, plan="pro"):
    """What a customer completing Checkout leads to: Stripe's events about it."""
    response = owner_client.post(f"/api/v1/subscription/upgrade/{plan}", {}, format="json")
    assert response.status_code == 200, response.content
    customer = subscription_of(organization).provider_customer_id
    remote = fake_stripe.add_subscription(customer=customer, price=f"price_{plan}")
    remote["metadata"] = {"organization_id": str(organization.pk)}
    assert deliver(api_client, "customer.subscription.created", remote).status_code == 200
    return remote


@pytest.mark.django_db(transaction=True)
def test_upgrade_from_free_creates_a_customer_and_answers_a_checkout_url(
    fake_stripe, plans, owner_client, organization
):
    response = owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "redirect"
    assert body["url"].startswith("https://checkout.stripe.test/pay/cs_")
    assert fake_stripe.paths() == ["POST /v1/customers", "POST /v1/checkout/sessions"]
    customer_call, checkout_call = fake_stripe.requests
    assert customer_call.params["metadata[organization_id]"] == str(organization.pk)
    assert customer_call.headers["idempotency-key"] == f"customer-{organization.pk}"
    assert checkout_call.params["line_items[0][price]"] == "price_pro"
    assert checkout_call.params["subscription_data[metadata][organization_id]"] == str(
        organization.pk
    )
    # Nothing changes until Stripe confirms.
    subscription = subscription_of(organization)
    assert subscription.plan.code == "free"
    assert subscription.provider_customer_id.startswith("cus_")


@pytest.mark.django_db(transaction=True)
def test_checkout_completion_applies_the_plan_and_its_entitlements(
    fake_stripe, plans, api_client, owner_client, organization
):
    remote = subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    subscription = subscription_of(organization)
    assert subscription.plan.code == "pro"
    assert subscription.provider == "stripe"
    assert subscription.provider_subscription_id == remote["id"]
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert int(subscription.current_period_end.timestamp()) == remote["current_period_end"]
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 1_000_000


@pytest.mark.django_db(transaction=True)
def test_plan_changes_and_cancellation_go_through_the_subscription(
    fake_stripe, plans, api_client, owner_client, organization
):
    remote = subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    fake_stripe.requests.clear()

    # A downgrade now: the subscription item moves to the new price, without proration.
    response = owner_client.post(
        "/api/v1/subscription/upgrade/starter", {"when": "now"}, format="json"
    )
    assert response.json()["action"] == "applied"
    update = fake_stripe.requests[-1]
    assert (update.method, update.path) == ("POST", f"/v1/subscriptions/{remote['id']}")
    assert update.params["items[0][price]"] == "price_starter"
    assert update.params["proration_behavior"] == "none"
    assert subscription_of(organization).plan.code == "starter"
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 100_000

    # An upgrade is prorated and invoiced by Stripe at once.
    owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    assert fake_stripe.requests[-1].params["proration_behavior"] == "always_invoice"

    # Cancel at the period end, resume, then cancel at once.
    owner_client.post("/api/v1/subscription/cancel", {}, format="json")
    assert fake_stripe.requests[-1].params == {"cancel_at_period_end": "true"}
    owner_client.post("/api/v1/subscription/resume")
    assert fake_stripe.requests[-1].params == {"cancel_at_period_end": "false"}
    owner_client.post("/api/v1/subscription/cancel", {"immediately": True}, format="json")
    assert (fake_stripe.requests[-1].method, fake_stripe.requests[-1].path) == (
        "DELETE",
        f"/v1/subscriptions/{remote['id']}",
    )
    assert subscription_of(organization).plan.code == "free"


@pytest.mark.django_db(transaction=True)
def test_subscription_updated_and_deleted_events(
    fake_stripe, plans, api_client, owner_client, organization
):
    remote = subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    # Changed in the Billing Portal: a new price and a cancellation at the period end.
    remote["items"]["data"][0]["price"] = {"id": "price_starter", "object": "price"}
    remote["cancel_at_period_end"] = True
    assert deliver(api_client, "customer.subscription.updated", remote).status_code == 200
    subscription = subscription_of(organization)
    assert subscription.plan.code == "starter" and subscription.cancel_at_period_end is True
    organization.refresh_from_db()
    assert organization.max_members == 3

    remote["status"] = "canceled"
    assert deliver(api_client, "customer.subscription.deleted", remote).status_code == 200
    subscription = subscription_of(organization)
    assert subscription.plan.code == "free"
    assert subscription.provider_subscription_id == ""
    organization.refresh_from_db()
    assert organization.max_members is None


@pytest.mark.django_db(transaction=True)
def test_invoice_failed_then_paid(fake_stripe, plans, api_client, owner_client, organization):
    remote = subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    now = int(time.time())
    invoice = {
        "id": "in_fake1",
        "object": "invoice",
        "customer": remote["customer"],
        "subscription": remote["id"],
        "number": "FAKE-0001",
        "currency": "eur",
        "subtotal": 2000,
        "total": 2000,
        "amount_paid": 0,
        "period_start": now,
        "period_end": now + 30 * 86400,
        "hosted_invoice_url": "https://invoice.stripe.test/in_fake1",
        "lines": {"data": [{"description": "1 x Pro", "amount": 2000, "quantity": 1}]},
    }
    assert deliver(api_client, "invoice.payment_failed", invoice).status_code == 200
    subscription = subscription_of(organization)
    assert subscription.status == SubscriptionStatus.PAST_DUE
    assert subscription.past_due_since is not None
    mirrored = Invoice.all_organizations.get(provider_invoice_id="in_fake1")
    assert mirrored.status == InvoiceStatus.OPEN and mirrored.total_minor == 2000
    assert mirrored.currency == "EUR"

    invoice["amount_paid"] = 2000
    assert deliver(api_client, "invoice.paid", invoice).status_code == 200
    mirrored.refresh_from_db()
    assert mirrored.status == InvoiceStatus.PAID and mirrored.amount_paid_minor == 2000
    assert mirrored.lines.get().amount_minor == 2000
    subscription = subscription_of(organization)
    assert subscription.status == SubscriptionStatus.ACTIVE and subscription.past_due_since is None
    # A late "failed" never moves a paid invoice back.
    assert deliver(api_client, "invoice.payment_failed", invoice).status_code == 200
    mirrored.refresh_from_db()
    assert mirrored.status == InvoiceStatus.PAID
    # It shows in the history with Stripe's page.
    history = owner_client.get("/api/v1/billing/history").json()["results"]
    assert history[0]["hosted_url"] == "https://invoice.stripe.test/in_fake1"


@pytest.mark.django_db(transaction=True)
def test_overage_becomes_one_invoice_item_however_often_the_period_closes(
    fake_stripe, plans, api_client, owner, owner_client, organization
):
    from billing.services.periods import billing_periods_close

    subscribe_through_checkout(fake_stripe, api_client, owner_client, organization, "metered")
    subscription = subscription_of(organization)
    UsageRecord.objects.create(
        user=owner,
        organization=organization,
        kind="chat",
        provider="offline",
        model="m",
        total_tokens=3_000,
        created_at=subscription.current_period_start + dt.timedelta(minutes=1),
    )
    after = subscription.current_period_end + dt.timedelta(minutes=1)
    assert billing_periods_close(now=after) == 1
    assert billing_periods_close(now=after) == 0  # Stripe has not renewed yet: still closed
    assert len(fake_stripe.invoice_items) == 1
    (item,) = fake_stripe.invoice_items.values()
    assert item["amount"] == 100 and item["currency"] == "eur"  # 2,000 tokens at 50 per 1,000
    record = Invoice.all_organizations.get(reason=InvoiceReason.PERIOD_CLOSE)
    assert record.provider_invoice_id == item["id"]
    assert record.status == InvoiceStatus.DRAFT  # collected by Stripe's next invoice


@pytest.mark.django_db(transaction=True)
def test_a_stripe_failure_is_a_502_envelope_and_changes_nothing(
    fake_stripe, plans, owner_client, organization
):
    fake_stripe.fail_next = 500
    body = assert_envelope(
        owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json"),
        502,
        "PAYMENT_PROVIDER_ERROR",
    )
    assert "operation" in body["details"]
    assert subscription_of(organization).provider_customer_id == ""
    assert PaymentEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_billing_portal_link(fake_stripe, plans, api_client, owner_client, organization):
    subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    response = owner_client.post("/api/v1/subscription/portal")
    assert response.status_code == 200
    assert response.json()["url"].startswith("https://billing.stripe.test/session/cus_")


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_downgrade_moves_the_stripe_price_at_the_period_end(
    fake_stripe, plans, api_client, owner_client, organization
):
    from billing.services.periods import billing_periods_close

    remote = subscribe_through_checkout(fake_stripe, api_client, owner_client, organization)
    response = owner_client.post("/api/v1/subscription/upgrade/starter", {}, format="json")
    assert response.json()["action"] == "scheduled"
    fake_stripe.requests.clear()
    end = subscription_of(organization).current_period_end
    billing_periods_close(now=end - dt.timedelta(minutes=1))
    assert fake_stripe.requests == []  # not before the end
    billing_periods_close(now=end + dt.timedelta(minutes=1))
    update = fake_stripe.requests[-1]
    assert update.path == f"/v1/subscriptions/{remote['id']}"
    assert update.params["items[0][price]"] == "price_starter"
    assert update.params["proration_behavior"] == "none"
    subscription = subscription_of(organization)
    assert subscription.plan.code == "starter" and subscription.pending_plan is None
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 100_000
