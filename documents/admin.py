"""Documents in the management console: state, errors, reindex, delete with vectors, and the
original file for admins (downloaded through the console, audited)."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.exceptions import ApplicationError
from core.actor import actor_from_request
from documents.models import Document
from documents.services import (
    document_delete,
    document_download_name,
    document_file_open,
    document_reindex,
    document_update,
)


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
    list_filter = ["status", "file_type", "embedding_model", "organization"]
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
            name="documents_document_download",
        )
        return [download, *super().get_urls()]

    @admin.display(description="File")
    def file_download(self, obj: Document) -> str:
        # MEDIA_URL is not served (uploads are private): the link goes through the console's
        # own view, which checks the admin and audits the download.
        if not obj.file:
            return "-"
        url = reverse("admin:documents_document_download", args=[obj.pk])
        label = obj.original_name or obj.title
        return format_html('<a href="{}" download>Download {}</a>', url, label)

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The stored original, to an admin only (``document_file_open`` checks and audits)."""
        document = self.get_object(request, unquote(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404("No such document.")
        try:
            handle = document_file_open(document=document, actor=actor_from_request(request))
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
        document_update(document=document, actor=actor_from_request(request), title=obj.title)

    @admin.display(description="Progress")
    def progress_percent(self, obj: Document) -> str:
        return f"{obj.progress}%"

    @admin.action(description="Reindex selected documents")
    def reindex_documents(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        queued = busy = 0
        for document in queryset:
            try:
                document_reindex(document=document, actor=actor_from_request(request))
                queued += 1
            except ApplicationError:
                busy += 1
        self.message_user(request, f"Queued {queued} document(s) for reindexing.")
        if busy:
            self.message_user(
                request, f"{busy} document(s) are being processed; try later.", messages.WARNING
            )

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(document=obj, actor=actor_from_request(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for document in queryset:
            document_delete(document=document, actor=actor_from_request(request))
