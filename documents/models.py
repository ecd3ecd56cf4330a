"""The users' documents and the chunks of text they were embedded as."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.tenant_models import TenantOwnedModel


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentVisibility(models.TextChoices):
    # Only its owner reads it (and retrieval grounds only the owner's answers in it).
    PRIVATE = "private", "Private"
    # The organization's knowledge base: every member reads it and is grounded in it.
    SHARED = "shared", "Shared with the organization"


class DocumentType(models.TextChoices):
    PDF = "pdf", "PDF"
    TEXT = "text", "Plain text"
    MARKDOWN = "markdown", "Markdown"


def document_upload_to(instance: "Document", filename: str) -> str:
    # Server-generated name: the client's file name never reaches the file system.
    suffix = {"pdf": ".pdf", "text": ".txt", "markdown": ".md"}.get(instance.file_type, "")
    return f"documents/{instance.owner_id}/{instance.id}{suffix}"


class Document(TenantOwnedModel):
    """An uploaded file in one organization and the state of its ingestion into the vector
    store."""

    tenant_owner_field = "owner"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
    )
    visibility = models.CharField(
        max_length=16, choices=DocumentVisibility.choices, default=DocumentVisibility.PRIVATE
    )
    title = models.CharField(max_length=255)
    original_name = models.CharField(max_length=255, blank=True, default="")
    file = models.FileField(upload_to=document_upload_to, max_length=255)
    file_type = models.CharField(max_length=16, choices=DocumentType.choices)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    pages = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    chunks_indexed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    embedding_model = models.CharField(max_length=128, blank=True, default="")
    embedding_dimensions = models.PositiveIntegerField(default=0)
    # Counts pipeline starts since the last upload/reindex: a file that keeps killing the worker
    # (hard time limit, out of memory) is failed instead of being redelivered forever.
    ingest_attempts = models.PositiveSmallIntegerField(default=0)
    # When a worker last claimed it: the fair queue serves the owner served longest ago first.
    ingest_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "owner", "sha256"], name="document_unique_per_owner"
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["organization", "visibility", "status"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def progress(self) -> int:
        """Percent of chunks embedded and indexed (100 when ready)."""
        if self.status == DocumentStatus.READY:
            return 100
        if not self.chunks:
            return 0
        return min(99, int(100 * self.chunks_indexed / self.chunks))


class DocumentChunk(models.Model):
    """One piece of a document's text as it was embedded: where it came from and what it said.

    Kept in the database so an interrupted ingestion resumes from ``Document.chunks_indexed``
    without extracting the file again, and so a reindex never depends on the vector store.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunk_rows")
    chunk_index = models.PositiveIntegerField()
    page = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["document", "chunk_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "chunk_index"], name="document_chunk_unique_index"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.chunk_index} (page {self.page})"
