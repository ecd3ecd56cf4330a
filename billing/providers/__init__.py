"""Payment providers behind one interface (one adapter per provider, Saleor style).

``provider_get(name)`` returns the adapter; services never import an SDK themselves.
"""

from billing.providers.base import (
    CheckoutRequired,
    PaymentProvider,
    PaymentProviderError,
    WebhookEvent,
    WebhookSignatureError,
)


def provider_get(name: str) -> PaymentProvider:
    if name == "stripe":
        from billing.providers.stripe import StripeProvider

        return StripeProvider()
    from billing.providers.manual import ManualProvider

    return ManualProvider()


__all__ = [
    "CheckoutRequired",
    "PaymentProvider",
    "PaymentProviderError",
    "WebhookEvent",
    "WebhookSignatureError",
    "provider_get",
]
