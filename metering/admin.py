"""Usage records (read-only) and per-user quota overrides in the management console."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_mixins import ReadOnlyAdminMixin
from core.actor import actor_from_request
from metering.models import Quota, UsageRecord
from metering.quotas import QUOTA_FIELDS, quota_override_set


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every metered model call; read-only (metering is written by the code, never by hand)."""

    list_display = [
        "created_at",
        "user",
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
