"""User deletion jobs in the console: progress, and a retry of failed ones."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import deletion
from accounts.models import UserDeletion, UserDeletionStatus
from config.admin_mixins import ReadOnlyAdminMixin
from core.actor import actor_from_request


@admin.register(UserDeletion)
class UserDeletionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Deletion jobs (``accounts.deletion``): what the preview promised and what is gone so far.

    Started from a user's "Delete" page; a failed job is retried from where it stopped."""

    list_display = ["created_at", "user_label", "status", "step", "requested_by", "finished_at"]
    list_filter = ["status"]
    search_fields = ["user_label"]
    list_select_related = ["requested_by"]
    ordering = ["-created_at"]
    actions = ["retry_jobs"]
    fields = [
        "user_label",
        "status",
        "step",
        "preview_table",
        "removed_table",
        "attempts",
        "error",
        "requested_by",
        "created_at",
        "heartbeat_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description="Preview (at request)")
    def preview_table(self, job: UserDeletion) -> str:
        removed = job.preview.get("removed", {})
        kept = job.preview.get("kept", {})
        lines = [f"{label}: {count}" for label, count in removed.items()]
        lines += [f"kept - {label}: {count}" for label, count in kept.items()]
        return "; ".join(lines) or "-"

    @admin.display(description="Done so far")
    def removed_table(self, job: UserDeletion) -> str:
        return "; ".join(f"{key}: {count}" for key, count in job.removed.items()) or "-"

    @admin.action(description="Retry selected failed deletions")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for job in queryset.filter(status=UserDeletionStatus.FAILED):
            deletion.user_deletion_retry(actor=actor_from_request(request), job=job)
            retried += 1
        self.message_user(request, f"Queued {retried} deletion(s) again.", messages.SUCCESS)
