"""Usage records of every model call, and the token quotas: overrides, counters, reservations."""

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.cache import cache_invalidate


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"
    # Fine-tuning: the tokens a job trained on (their own budget: training_monthly_tokens).
    TRAINING = "training", "Training"


class UsageRecord(models.Model):
    """One call to a model provider: who, which model, how many tokens, how long."""

    # NULL once the user is deleted: the record stays, anonymised, for accounting.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    # No constraint: usage records outlive a deleted organization (accounting) and keep its id.
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    # Loose links (no FK): usage outlives deleted chats and documents, and stays cheap to write.
    message_id = models.BigIntegerField(null=True, blank=True)
    document_id = models.UUIDField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["organization", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.total_tokens} tokens"


class Quota(models.Model):
    """A per-user override of the role's token budgets; a null field means the role default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    daily_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_concurrent = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Quota of user {self.user_id}"


def quota_override_cache_key(user_id: int) -> str:
    return f"quota:override:{user_id}"


@receiver(post_save, sender=Quota)
@receiver(post_delete, sender=Quota)
def _quota_changed(sender: type[Quota], instance: Quota, **kwargs: object) -> None:
    # The API, the admin and a deleted user's cascade all end here.
    cache_invalidate(quota_override_cache_key(instance.user_id))


class QuotaPeriod(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class QuotaCounter(models.Model):
    """Tokens used and reserved by one user in one day or month (the row that is locked)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_counters"
    )
    period = models.CharField(max_length=8, choices=QuotaPeriod.choices)
    period_start = models.DateField()
    used_tokens = models.PositiveBigIntegerField(default=0)
    reserved_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period", "period_start"], name="quota_counter_unique_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.period} {self.period_start}"


class OrganizationQuotaCounter(models.Model):
    """Tokens used and reserved in one day or month inside one organization: its total
    (``user`` null, against the organization's budget) or one member's (against the member
    limit). Locked like :class:`QuotaCounter`, after the user's own rows (see
    ``metering.quotas``)."""

    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(max_length=8, choices=QuotaPeriod.choices)
    period_start = models.DateField()
    used_tokens = models.PositiveBigIntegerField(default=0)
    reserved_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period", "period_start"],
                condition=models.Q(user__isnull=True),
                name="org_quota_counter_unique_total",
            ),
            models.UniqueConstraint(
                fields=["organization", "user", "period", "period_start"],
                condition=models.Q(user__isnull=False),
                name="org_quota_counter_unique_member",
            ),
        ]

    def __str__(self) -> str:
        who = f"member {self.user_id}" if self.user_id else "total"
        return f"{self.organization_id} {who} {self.period} {self.period_start}"


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class QuotaReservation(models.Model):
    """Tokens held for one model call until its real count is known (also: a running call)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_reservations"
    )
    # The organization the call was made in: its budget and the member's limit inside it
    # were held too (null: a call outside any organization, user limits only). SET_NULL: a
    # deleted organization's counters are gone, the user's still need the release.
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tokens = models.PositiveBigIntegerField()
    day_start = models.DateField()
    month_start = models.DateField()
    status = models.CharField(
        max_length=12, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    charged_tokens = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "status"]),
            models.Index(fields=["organization", "status"]),
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.tokens} tokens, {self.status})"


class OrganizationQuota(models.Model):
    """An organization's token budgets, and the limit of each member inside them.

    A null field means no limit at that level (the member's own quota still applies). Written
    by organization admins (``metering.organization_quotas``) and by billing (a plan's
    entitlements); metering never reads billing."""

    organization = models.OneToOneField(
        "tenants.Organization", on_delete=models.CASCADE, related_name="quota"
    )
    daily_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    member_daily_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    member_monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    # Fine-tuning: trained tokens a month (their own kind of usage, their own budget).
    training_monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Quota of organization {self.organization_id}"


def organization_quota_cache_key(organization_id: object) -> str:
    return f"quota:organization:{organization_id}"


@receiver(post_save, sender=OrganizationQuota)
@receiver(post_delete, sender=OrganizationQuota)
def _organization_quota_changed(
    sender: type[OrganizationQuota], instance: OrganizationQuota, **kwargs: object
) -> None:
    # The API, the console and billing (a plan's entitlements) all save the row.
    cache_invalidate(organization_quota_cache_key(instance.organization_id))
