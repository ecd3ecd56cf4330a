"""The manual provider (the default, offline): plan changes apply at once, the product issues
the invoices and a platform admin marks them paid in the console."""

from billing.providers.base import PaymentProvider


class ManualProvider(PaymentProvider):
    name = "manual"
    issues_invoices = False
