"""Plans (versioned, with entitlements), one subscription per organization, invoices with their
lines, and the inbox of payment provider events.

Money is an integer number of minor units of its currency everywhere (cents for EUR/USD),
never a float: sums and prorations are integer arithmetic (``billing.money``).
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.tenant_models import TenantOwnedModel

FREE_PLAN_CODE = "free"


class PlanInterval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class OveragePolicy(models.TextChoices):
    # Past the monthly allowance model calls are refused (429 QUOTA_EXCEEDED) ...
    BLOCK = "block", "Block at the allowance"
    # ... or allowed and billed per 1,000 tokens at the period close.
    BILL = "bill", "Bill the overage"


class Plan(models.Model):
    """One version of a plan. A price or entitlement change of a plan that subscriptions use
    makes a new version (``billing.services.plans``); subscriptions keep theirs until renewal."""

    code = models.SlugField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    price_minor = models.PositiveBigIntegerField(
        default=0, help_text="Price per interval in minor units (cents)."
    )
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217, upper case.")
    interval = models.CharField(
        max_length=8, choices=PlanInterval.choices, default=PlanInterval.MONTH
    )
    trial_days = models.PositiveIntegerField(default=0)
    # Entitlements (null: no limit).
    monthly_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Token allowance per month; empty: unlimited."
    )
    overage_policy = models.CharField(
        max_length=8, choices=OveragePolicy.choices, default=OveragePolicy.BLOCK
    )
    overage_price_per_1k_minor = models.PositiveBigIntegerField(
        default=0, help_text="With overage 'bill': minor units per 1,000 tokens past the allowance."
    )
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_documents = models.PositiveIntegerField(null=True, blank=True)
    max_storage_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model names; empty: every model of the platform."
    )
    feature_flags = models.JSONField(
        default=dict,
        blank=True,
        help_text='Organization feature flags, e.g. {"rag_enabled": true}.',
    )
    # Listed by GET /api/v1/subscription/plans (a private plan is assigned by an operator).
    is_public = models.BooleanField(default=True)
    # The version new subscriptions and renewals get (one per code).
    is_current = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    stripe_price_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort_order", "price_minor", "code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="plan_unique_version"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_current=True), name="plan_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code} v{self.version})"

    @property
    def is_free(self) -> bool:
        return self.price_minor == 0

    @property
    def monthly_equivalent_x12(self) -> int:
        """Twelve times the price per month (integers): yearly and monthly plans compare."""
        return self.price_minor * 12 if self.interval == PlanInterval.MONTH else self.price_minor


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    INCOMPLETE = "incomplete", "Incomplete"


class BillingProvider(models.TextChoices):
    MANUAL = "manual", "Manual (invoices issued here, marked paid by an operator)"
    STRIPE = "stripe", "Stripe"


class Subscription(TenantOwnedModel):
    """The organization's plan (exactly one per organization; the free plan by default)."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    provider = models.CharField(
        max_length=16, choices=BillingProvider.choices, default=BillingProvider.MANUAL
    )
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # A downgrade waiting for the end of the period.
    pending_plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    past_due_since = models.DateTimeField(null=True, blank=True)
    # The owner's choice: may the organization's admins change billing too?
    admins_may_manage = models.BooleanField(default=False)
    provider_customer_id = models.CharField(max_length=255, blank=True, default="")
    provider_subscription_id = models.CharField(max_length=255, blank=True, default="")
    # ``created`` of the newest provider event applied: older ones never move it backwards.
    provider_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="subscription_one_per_org")
        ]
        indexes = [
            models.Index(fields=["current_period_end"]),
            models.Index(fields=["status"]),
            models.Index(fields=["provider_subscription_id"]),
            models.Index(fields=["provider_customer_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.plan} ({self.status})"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class InvoiceReason(models.TextChoices):
    # A plan change inside a period (first fee, proration).
    SUBSCRIPTION_UPDATE = "subscription_update", "Plan change"
    # The close of a period: its metered overage and the next period's fee.
    PERIOD_CLOSE = "period_close", "Period close"
    # Mirrored from the provider (Stripe invoices).
    PROVIDER = "provider", "Provider invoice"


class Invoice(TenantOwnedModel):
    """What an organization owes for a period; totals are integer minor units."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No constraint: invoices outlive a deleted organization (accounting) and keep its id.
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    number = models.CharField(max_length=64, unique=True, null=True, blank=True)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    reason = models.CharField(max_length=32, choices=InvoiceReason.choices)
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    provider = models.CharField(
        max_length=16, choices=BillingProvider.choices, default=BillingProvider.MANUAL
    )
    provider_invoice_id = models.CharField(max_length=255, blank=True, default="")
    hosted_url = models.CharField(max_length=1000, blank=True, default="")
    currency = models.CharField(max_length=3)
    subtotal_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    amount_paid_minor = models.BigIntegerField(default=0)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at"]
        constraints = [
            # Closing a period twice (a re-run, two workers) can never bill it twice.
            models.UniqueConstraint(
                fields=["organization", "period_start"],
                condition=Q(reason="period_close"),
                name="invoice_one_period_close",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_invoice_id"],
                condition=~Q(provider_invoice_id=""),
                name="invoice_unique_provider_id",
            ),
        ]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return self.number or f"Invoice {self.pk}"


class InvoiceLineKind(models.TextChoices):
    PLAN = "plan", "Plan fee"
    PRORATION = "proration", "Proration"
    OVERAGE = "overage", "Metered overage"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=16, choices=InvoiceLineKind.choices)
    description = models.CharField(max_length=255)
    quantity = models.BigIntegerField(default=1)
    # Negative for a credit (the unused part of the previous plan).
    amount_minor = models.BigIntegerField()
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_minor}"


class PaymentEventOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (not handled)"
    STALE = "stale", "Stale (older than the state it would change)"
    FAILED = "failed", "Failed"


class PaymentEvent(models.Model):
    """The webhook inbox: each provider event stored once by its id, processed once."""

    provider = models.CharField(max_length=16, choices=BillingProvider.choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=128)
    event_created = models.DateTimeField()
    payload = models.JSONField()
    organization_id_hint = models.UUIDField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=PaymentEventOutcome.choices, default=PaymentEventOutcome.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="payment_event_once")
        ]
        indexes = [models.Index(fields=["outcome", "received_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


class InvoiceNumberSequence(models.Model):
    """The last invoice number issued per prefix and year: numbers are gap-free and ordered
    (the row is locked while a number is taken)."""

    prefix = models.CharField(max_length=32)
    year = models.PositiveIntegerField()
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prefix", "year"], name="invoice_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year}: {self.last}"
