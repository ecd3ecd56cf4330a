"""Documents in the management console: state, errors, reindex, delete with vectors."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.exceptions import ApplicationError
from documents.models import Document
from documents.services import document_delete, document_reindex


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
        "file",
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

    @admin.display(description="Progress")
    def progress_percent(self, obj: Document) -> str:
        return f"{obj.progress}%"

    @admin.action(description="Reindex selected documents")
    def reindex_documents(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        queued = busy = 0
        for document in queryset:
            try:
                document_reindex(document=document)
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
