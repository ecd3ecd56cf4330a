"""Stripe through the official SDK: customers, Checkout Sessions, the Billing Portal,
subscriptions, invoice items, and verified webhooks.

``STRIPE_API_BASE`` points the SDK at another server (the tests' fake Stripe); every request
carries an idempotency key where a retry could charge twice.
"""

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import stripe
import structlog
from django.conf import settings

from billing.providers.base import (
    CheckoutRequired,
    PaymentProvider,
    PaymentProviderError,
    WebhookEvent,
    WebhookSignatureError,
)
from config.exceptions import ServiceUnavailableError

if TYPE_CHECKING:
    from billing.models import Invoice, Plan, Subscription

logger = structlog.get_logger(__name__)


def stripe_client() -> stripe.StripeClient:
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise ServiceUnavailableError(
            "Stripe billing is not configured (STRIPE_SECRET_KEY).", code="BILLING_NOT_CONFIGURED"
        )
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        key,
        base_addresses={"api": base} if base else None,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def _call(operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        # The message of Stripe's answer is for operators (logs); the client gets the envelope.
        logger.warning("stripe_call_failed", operation=operation, error=str(exc)[:300])
        raise PaymentProviderError(details={"operation": operation}) from exc


class StripeProvider(PaymentProvider):
    name = "stripe"
    issues_invoices = True

    def _customer(self, client: stripe.StripeClient, subscription: "Subscription") -> str:
        if subscription.provider_customer_id:
            return subscription.provider_customer_id
        organization = subscription.organization
        customer = _call(
            "customer_create",
            client.v1.customers.create,
            params={
                "name": organization.name[:200],
                "metadata": {"organization_id": str(organization.pk)},
            },
            options={"idempotency_key": f"customer-{organization.pk}"},
        )
        subscription.provider_customer_id = customer.id
        subscription.save(update_fields=["provider_customer_id", "updated_at"])
        return str(customer.id)

    def _price(self, plan: "Plan") -> str:
        if not plan.stripe_price_id:
            raise PaymentProviderError(
                f"The plan {plan.code} has no Stripe price.", code="PLAN_NOT_PURCHASABLE"
            )
        return plan.stripe_price_id

    def subscription_start(
        self, *, subscription: "Subscription", plan: "Plan", return_url: str
    ) -> CheckoutRequired | None:
        client = stripe_client()
        customer = self._customer(client, subscription)
        organization_id = str(subscription.organization_id)
        subscription_data: dict[str, Any] = {
            "metadata": {"organization_id": organization_id, "plan_code": plan.code}
        }
        if plan.trial_days:
            subscription_data["trial_period_days"] = plan.trial_days
        session = _call(
            "checkout_session_create",
            client.v1.checkout.sessions.create,
            params={
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": organization_id,
                "line_items": [{"price": self._price(plan), "quantity": 1}],
                "subscription_data": subscription_data,
                "metadata": {"organization_id": organization_id, "plan_code": plan.code},
                "success_url": return_url,
                "cancel_url": return_url,
            },
        )
        return CheckoutRequired(url=str(session.url), customer_id=customer)

    def _item_id(self, client: stripe.StripeClient, subscription_id: str) -> str:
        remote = _call("subscription_retrieve", client.v1.subscriptions.retrieve, subscription_id)
        return str(remote["items"]["data"][0]["id"])

    def subscription_change(
        self, *, subscription: "Subscription", plan: "Plan", prorate: bool
    ) -> None:
        client = stripe_client()
        remote_id = subscription.provider_subscription_id
        _call(
            "subscription_update",
            client.v1.subscriptions.update,
            remote_id,
            params={
                "items": [{"id": self._item_id(client, remote_id), "price": self._price(plan)}],
                "proration_behavior": "always_invoice" if prorate else "none",
                "cancel_at_period_end": False,
                "metadata": {
                    "organization_id": str(subscription.organization_id),
                    "plan_code": plan.code,
                },
            },
        )

    def subscription_cancel(self, *, subscription: "Subscription", immediately: bool) -> None:
        client = stripe_client()
        remote_id = subscription.provider_subscription_id
        if not remote_id:
            return
        if immediately:
            _call("subscription_cancel", client.v1.subscriptions.cancel, remote_id)
        else:
            _call(
                "subscription_update",
                client.v1.subscriptions.update,
                remote_id,
                params={"cancel_at_period_end": True},
            )

    def subscription_resume(self, *, subscription: "Subscription") -> None:
        remote_id = subscription.provider_subscription_id
        if not remote_id:
            return
        _call(
            "subscription_update",
            stripe_client().v1.subscriptions.update,
            remote_id,
            params={"cancel_at_period_end": False},
        )

    def overage_charge(self, *, subscription: "Subscription", invoice: "Invoice") -> str:
        """An invoice item on the customer: Stripe adds it to the next invoice it issues."""
        client = stripe_client()
        item = _call(
            "invoice_item_create",
            client.v1.invoice_items.create,
            params={
                "customer": self._customer(client, subscription),
                "amount": invoice.total_minor,
                "currency": invoice.currency.lower(),
                "description": f"Overage {invoice.period_start:%Y-%m-%d} - "
                f"{invoice.period_end:%Y-%m-%d} ({invoice.number})",
                "metadata": {"invoice": str(invoice.pk)},
            },
            # A retried close (or a crash between this call and the commit) never adds twice.
            options={
                "idempotency_key": f"overage-{invoice.organization_id}-"
                f"{int(invoice.period_start.timestamp())}"
            },
        )
        return str(item.id)

    def portal_url(self, *, subscription: "Subscription", return_url: str) -> str:
        client = stripe_client()
        session = _call(
            "billing_portal_session_create",
            client.v1.billing_portal.sessions.create,
            params={"customer": self._customer(client, subscription), "return_url": return_url},
        )
        return str(session.url)

    def webhook_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise ServiceUnavailableError(
                "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).",
                code="BILLING_NOT_CONFIGURED",
            )
        try:
            # Verifies the HMAC and that the signed timestamp is within the tolerance (replay).
            stripe.Webhook.construct_event(
                payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE
            )
            data = json.loads(payload)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise WebhookSignatureError() from exc
        if not isinstance(data, dict) or not data.get("id") or not data.get("type"):
            raise WebhookSignatureError("The event has no id or type.")
        created = dt.datetime.fromtimestamp(int(data.get("created") or 0), tz=dt.UTC)
        return WebhookEvent(
            event_id=str(data["id"])[:255],
            event_type=str(data["type"])[:128],
            created=created,
            payload=data,
        )
