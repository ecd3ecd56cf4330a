"""The ai app in the management console: documents (state, errors, reindex, delete with
vectors), usage records, quotas, feature flags and the read-only audit trail."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import AuditEvent, FeatureFlag
from ai.documents.services import (
    document_delete,
    document_download_name,
    document_file_open,
    document_reindex,
    document_update,
)
from ai.flags import feature_flag_delete, feature_flag_name_validate, feature_flag_set
from ai.models import Document, Quota, UsageRecord
from ai.quotas import QUOTA_FIELDS, quota_override_set
from config.admin_mixins import ReadOnlyAdminMixin, form_errors_from
from config.exceptions import ApplicationError


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "owner",
        "file_type",
        "status",
        "pages",
        "chunks",
        "progress_percent",
        "size_bytes",
        "created_at",
    ]
    list_filter = ["status", "file_type", "embedding_model"]
    search_fields = ["title", "original_name", "owner__email", "sha256", "id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["reindex_documents"]
    readonly_fields = [
        "id",
        "owner",
        "original_name",
        "file_download",
        "file_type",
        "size_bytes",
        "sha256",
        "status",
        "pages",
        "chunks",
        "chunks_indexed",
        "progress_percent",
        "error",
        "embedding_model",
        "embedding_dimensions",
        "ingest_attempts",
        "created_at",
        "updated_at",
        "processed_at",
    ]
    fields = ["title", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Uploads go through the API or `manage.py ingest`, which validate the file.
        return False

    def get_urls(self) -> list[Any]:
        download = path(
            "<path:object_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="ai_document_download",
        )
        return [download, *super().get_urls()]

    @admin.display(description="File")
    def file_download(self, obj: Document) -> str:
        # MEDIA_URL is not served (uploads are private): the link goes through the console's
        # own view, which checks the admin and audits the download.
        if not obj.file:
            return "-"
        url = reverse("admin:ai_document_download", args=[obj.pk])
        label = obj.original_name or obj.title
        return format_html('<a href="{}" download>Download {}</a>', url, label)

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The stored original, to an admin only (``document_file_open`` checks and audits)."""
        document = self.get_object(request, unquote(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404("No such document.")
        try:
            handle = document_file_open(document=document, actor=request.user, request=request)
        except ApplicationError as exc:
            if exc.status_code == 404:
                raise Http404(exc.message) from exc
            raise PermissionDenied(exc.message) from exc
        content_type = {
            "pdf": "application/pdf",
            "text": "text/plain; charset=utf-8",
            "markdown": "text/markdown; charset=utf-8",
        }.get(document.file_type, "application/octet-stream")
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=document_download_name(document),
            content_type=content_type,
        )
        # Someone else's file: never rendered by the browser in the console's origin.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, no-store"
        return response

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        # Only the title is editable; through the service, so the rename is audited.
        document = Document.objects.get(pk=obj.pk)
        document_update(document=document, actor=request.user, title=obj.title, request=request)

    @admin.display(description="Progress")
    def progress_percent(self, obj: Document) -> str:
        return f"{obj.progress}%"

    @admin.action(description="Reindex selected documents")
    def reindex_documents(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        queued = busy = 0
        for document in queryset:
            try:
                document_reindex(document=document, actor=request.user, request=request)
                queued += 1
            except ApplicationError:
                busy += 1
        self.message_user(request, f"Queued {queued} document(s) for reindexing.")
        if busy:
            self.message_user(
                request, f"{busy} document(s) are being processed; try later.", messages.WARNING
            )

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(document=obj, actor=request.user, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for document in queryset:
            document_delete(document=document, actor=request.user, request=request)


# --- Usage, quotas, feature flags and the audit trail --------------------------------------


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
    list_filter = ["kind", "provider", "model", ("created_at", admin.DateFieldListFilter)]
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
            actor=request.user,
            data={name: form.cleaned_data.get(name) for name in QUOTA_FIELDS},
            request=request,
        )
        obj.pk = Quota.objects.get(user=obj.user).pk

    def delete_model(self, request: HttpRequest, obj: Quota) -> None:
        quota_override_set(
            user=obj.user,
            actor=request.user,
            data=dict.fromkeys(QUOTA_FIELDS),
            request=request,
        )
        obj.delete()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for quota in queryset.select_related("user"):
            self.delete_model(request, quota)


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
    """Flags the code reads through ``ai.flags.flag_enabled`` (changes are cached and audited).

    Names are checked by the same service as ``POST /api/v1/admin/feature-flags``."""

    form = FeatureFlagAdminForm
    list_display = ["name", "enabled", "description", "updated_at", "updated_by"]
    list_editable = ["enabled"]
    list_select_related = ["updated_by"]
    readonly_fields = ["updated_at", "updated_by"]
    fields = ["name", "enabled", "description", "updated_at", "updated_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The name is what the code reads: fixed once the flag exists.
        return [*self.readonly_fields, "name"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: FeatureFlag, form: Any, change: bool) -> None:
        # Through the service: the name checked, the cache invalidated, the change audited.
        feature_flag_set(
            name=obj.name,
            enabled=obj.enabled,
            description=obj.description if "description" in form.fields else None,
            actor=request.user,
            request=request,
        )
        obj.pk = FeatureFlag.objects.get(name=obj.name).pk

    def delete_model(self, request: HttpRequest, obj: FeatureFlag) -> None:
        feature_flag_delete(name=obj.name, actor=request.user, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for flag in queryset:
            self.delete_model(request, flag)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail: searchable and filterable, never editable or deletable."""

    list_display = ["created_at", "action", "actor_email", "target_repr", "ip", "request_id"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    date_hierarchy = "created_at"
    search_fields = ["actor_email", "target_repr", "target_id", "ip", "request_id", "action"]
    list_select_related = ["actor"]
    show_full_result_count = False
    ordering = ["-created_at"]
