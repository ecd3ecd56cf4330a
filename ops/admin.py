"""Feature flags and the read-only audit trail in the management console."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_mixins import ReadOnlyAdminMixin, form_errors_from
from core.actor import actor_from_request
from ops.flags import feature_flag_delete, feature_flag_name_validate, feature_flag_set
from ops.models import AuditEvent, FeatureFlag


class FeatureFlagAdminForm(forms.ModelForm):
    class Meta:
        model = FeatureFlag
        fields = ["name", "enabled", "description"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        try:
            return feature_flag_name_validate(name)
        except Exception as exc:  # noqa: BLE001 - the service's 400, shown on the field
            form_errors_from(self, exc)
            return name


@admin.register(FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin):
    """Flags the code reads through ``ops.flags.flag_enabled`` (changes are cached and audited).

    Names are checked by the same service as ``POST /api/v1/admin/feature-flags``."""

    form = FeatureFlagAdminForm
    list_display = [
        "name",
        "organization",
        "enabled",
        "description",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["organization"]
    list_editable = ["enabled"]
    list_select_related = ["updated_by"]
    readonly_fields = ["updated_at", "updated_by"]
    fields = ["name", "organization", "enabled", "description", "updated_at", "updated_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The name is what the code reads: fixed once the flag exists.
        if obj is not None:
            return [*self.readonly_fields, "name", "organization"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: FeatureFlag, form: Any, change: bool) -> None:
        # Through the service: the name checked, the cache invalidated, the change audited.
        feature_flag_set(
            name=obj.name,
            enabled=obj.enabled,
            description=obj.description if "description" in form.fields else None,
            actor=actor_from_request(request),
            organization_id=obj.organization_id,
        )
        obj.pk = FeatureFlag.objects.get(name=obj.name, organization_id=obj.organization_id).pk

    def delete_model(self, request: HttpRequest, obj: FeatureFlag) -> None:
        feature_flag_delete(
            name=obj.name, actor=actor_from_request(request), organization_id=obj.organization_id
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for flag in queryset:
            self.delete_model(request, flag)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail: searchable and filterable, never editable or deletable."""

    list_display = ["created_at", "action", "actor_email", "target_repr", "ip", "request_id"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter), "organization"]
    date_hierarchy = "created_at"
    search_fields = ["actor_email", "target_repr", "target_id", "ip", "request_id", "action"]
    list_select_related = ["actor"]
    show_full_result_count = False
    ordering = ["-created_at"]
