"""Management console for fine-tuning: datasets and jobs, read-only (their changes go through
the organization's routes, which talk to the provider)."""

from django.contrib import admin

from config.admin_mixins import ReadOnlyAdminMixin
from finetuning.models import FineTuneEvent, FineTuneJob, TrainingDataset


@admin.register(TrainingDataset)
class TrainingDatasetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "source", "examples", "total_tokens", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["name", "organization__name", "provider_file_id"]
    list_select_related = ["organization"]
    exclude = ["example_tokens"]


class FineTuneEventInline(admin.TabularInline):
    model = FineTuneEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "level", "type", "message", "data"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(FineTuneJob)
class FineTuneJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "organization",
        "base_model",
        "status",
        "trained_tokens",
        "fine_tuned_model",
        "created_at",
    ]
    list_filter = ["status", "provider", "created_at"]
    search_fields = ["provider_job_id", "fine_tuned_model", "organization__name"]
    list_select_related = ["organization"]
    inlines = [FineTuneEventInline]
