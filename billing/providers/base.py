"""The interface every payment provider adapter implements."""

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.exceptions import ApplicationError

if TYPE_CHECKING:
    from billing.models import Invoice, Plan, Subscription


class PaymentProviderError(ApplicationError):
    """The provider refused or could not be reached (nothing changed here)."""

    status_code = 502
    default_code = "PAYMENT_PROVIDER_ERROR"
    default_detail = "The payment provider could not complete the request; try again."


class WebhookSignatureError(ApplicationError):
    status_code = 400
    default_code = "WEBHOOK_SIGNATURE_INVALID"
    default_detail = "The webhook signature is missing, invalid or too old."


@dataclass(frozen=True)
class CheckoutRequired:
    """Payment details are needed first: send the customer to ``url`` (the change applies
    when the provider's webhook confirms it)."""

    url: str
    customer_id: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    created: dt.datetime
    payload: dict[str, Any]


class PaymentProvider:
    """The manual provider's behaviour is the default: nothing leaves the product."""

    name = "manual"
    # Whether the provider issues the invoices of plan fees itself (then the product only
    # mirrors them from webhooks); the manual provider leaves that to the product.
    issues_invoices = False

    def subscription_start(
        self, *, subscription: "Subscription", plan: "Plan", return_url: str
    ) -> CheckoutRequired | None:
        """A paid plan for an organization with no provider subscription yet."""
        return None

    def subscription_change(
        self, *, subscription: "Subscription", plan: "Plan", prorate: bool
    ) -> None:
        """Move an existing provider subscription to ``plan``."""

    def subscription_cancel(self, *, subscription: "Subscription", immediately: bool) -> None:
        """Cancel at the period end, or at once."""

    def subscription_resume(self, *, subscription: "Subscription") -> None:
        """Undo a cancellation at the period end."""

    def overage_charge(self, *, subscription: "Subscription", invoice: "Invoice") -> str:
        """Have the provider collect a period-close invoice; returns the provider's id."""
        return ""

    def portal_url(self, *, subscription: "Subscription", return_url: str) -> str:
        """Where the customer updates payment details ("" when the provider has none)."""
        return ""

    def webhook_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        raise WebhookSignatureError("This payment provider sends no webhooks.")
