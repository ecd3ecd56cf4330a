"""The audit trail and the feature flags: records every app writes or reads.

Both refer to the user through ``settings.AUTH_USER_MODEL`` only, so this app imports no
other app and sits below ``accounts`` (which audits logins and reads the sign-up flag).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """An append-only record of a security- or administration-relevant action.

    Written only through ``ops.audit.audit_log``; read-only in the admin, never edited.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    # The organization it happened in (none: platform-wide). No constraint: the trail
    # outlives a deleted organization and keeps its id.
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Kept even when the actor is deleted, so the trail still says who it was.
    actor_email = models.CharField(max_length=254, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=255, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["action", "-created_at"]),
            models.Index(fields=["actor", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_email or 'system'}"


class FeatureFlag(models.Model):
    """A named on/off switch administrators flip at run time (cached; see ``ops.flags``)."""

    name = models.SlugField(max_length=64)
    # None: the platform default; an organization's row overrides it for that organization.
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="feature_flags",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(organization__isnull=True),
                name="feature_flag_unique_platform",
            ),
            models.UniqueConstraint(
                fields=["name", "organization"], name="feature_flag_unique_per_organization"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.enabled else 'off'}"
