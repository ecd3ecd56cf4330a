"""Usage records (read-only) and per-user quota overrides in the management console."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_mixins import ReadOnlyAdminMixin
from config.exceptions import ApplicationError
from core.actor import actor_from_request
from metering.models import OrganizationQuota, Quota, UsageRecord
from metering.quotas import (
    ORGANIZATION_QUOTA_FIELDS,
    QUOTA_FIELDS,
    organization_quota_set,
    organization_quota_validate,
    quota_override_set,
)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every metered model call; read-only (metering is written by the code, never by hand)."""

    list_display = [
        "created_at",
        "user",
        "organization_id",
        "kind",
        "provider",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "latency_ms",
    ]
    list_filter = [
        "kind",
        "provider",
        "model",
        ("created_at", admin.DateFieldListFilter),
        "organization",
    ]
    date_hierarchy = "created_at"
    search_fields = ["user__email", "model", "request_id"]
    list_select_related = ["user"]
    # Counting 10,000+ rows on every page view is the slow part of a big changelist.
    show_full_result_count = False
    ordering = ["-created_at"]


class QuotaAdminForm(forms.ModelForm):
    class Meta:
        model = Quota
        fields = ["user", "daily_tokens", "monthly_tokens", "max_concurrent"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Per-user overrides; an empty field means the role's default (``QUOTA_DEFAULTS``)."""

    form = QuotaAdminForm
    list_display = ["user", "daily_tokens", "monthly_tokens", "max_concurrent", "updated_at"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Quota, form: Any, change: bool) -> None:
        # Through the service, so the change is audited like one made through the API.
        quota_override_set(
            user=obj.user,
            actor=actor_from_request(request),
            data={name: form.cleaned_data.get(name) for name in QUOTA_FIELDS},
        )
        obj.pk = Quota.objects.get(user=obj.user).pk

    def delete_model(self, request: HttpRequest, obj: Quota) -> None:
        quota_override_set(
            user=obj.user,
            actor=actor_from_request(request),
            data=dict.fromkeys(QUOTA_FIELDS),
        )
        obj.delete()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for quota in queryset.select_related("user"):
            self.delete_model(request, quota)


class OrganizationQuotaAdminForm(forms.ModelForm):
    class Meta:
        model = OrganizationQuota
        fields = ["organization", *ORGANIZATION_QUOTA_FIELDS]

    def clean(self) -> dict[str, Any]:
        # The service's validation, shown on the form rather than as an error page.
        cleaned = super().clean() or {}
        try:
            organization_quota_validate(
                {name: cleaned.get(name) for name in ORGANIZATION_QUOTA_FIELDS}
            )
        except ApplicationError as exc:
            for field, messages in (exc.details or {}).items():
                for message in messages:
                    self.add_error(field, message)
        return cleaned


@admin.register(OrganizationQuota)
class OrganizationQuotaAdmin(admin.ModelAdmin):
    """An organization's budgets and member limits; an empty field means no limit. Saved
    through ``metering.quotas.organization_quota_set`` (validated and audited like the API)."""

    form = OrganizationQuotaAdminForm
    list_display = ["organization", *ORGANIZATION_QUOTA_FIELDS, "updated_at"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__slug"]
    raw_id_fields = ["organization"]
    show_full_result_count = False

    def save_model(
        self, request: HttpRequest, obj: OrganizationQuota, form: Any, change: bool
    ) -> None:
        organization_quota_set(
            actor=actor_from_request(request),
            organization=obj.organization,
            data={name: form.cleaned_data.get(name) for name in ORGANIZATION_QUOTA_FIELDS},
        )
        obj.pk = OrganizationQuota.objects.get(organization=obj.organization).pk

    def delete_model(self, request: HttpRequest, obj: OrganizationQuota) -> None:
        organization_quota_set(
            actor=actor_from_request(request),
            organization=obj.organization,
            data=dict.fromkeys(ORGANIZATION_QUOTA_FIELDS),
        )
        obj.delete()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for quota in queryset.select_related("organization"):
            self.delete_model(request, quota)
