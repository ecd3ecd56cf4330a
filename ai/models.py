"""Usage records of every model call, and the users' documents."""

import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.cache import cache_invalidate


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class UsageRecord(models.Model):
    """One call to a model provider: who, which model, how many tokens, how long."""

    # NULL once the user is deleted: the record stays, anonymised, for accounting.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    # Loose links (no FK): usage outlives deleted chats and documents, and stays cheap to write.
    message_id = models.BigIntegerField(null=True, blank=True)
    document_id = models.UUIDField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.total_tokens} tokens"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentType(models.TextChoices):
    PDF = "pdf", "PDF"
    TEXT = "text", "Plain text"
    MARKDOWN = "markdown", "Markdown"


def document_upload_to(instance: "Document", filename: str) -> str:
    # Server-generated name: the client's file name never reaches the file system.
    suffix = {"pdf": ".pdf", "text": ".txt", "markdown": ".md"}.get(instance.file_type, "")
    return f"documents/{instance.owner_id}/{instance.id}{suffix}"


class Document(models.Model):
    """An uploaded file and the state of its ingestion into the vector store."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="document_unique_per_owner")
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
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


@receiver(post_delete, sender=Document)
def _document_post_delete(sender: type[Document], instance: Document, **kwargs: object) -> None:
    # The API, the admin and a deleted user's cascade all end here: the file and the vectors
    # go once the deletion is committed (never for a rolled-back delete).
    from ai.documents.services import document_cleanup

    document_id, file_name = str(instance.pk), instance.file.name or ""
    transaction.on_commit(lambda: document_cleanup(document_id=document_id, file_name=file_name))


class Quota(models.Model):
    """A per-user override of the role's token budgets; a null field means the role default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    daily_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_concurrent = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Quota of user {self.user_id}"


def quota_override_cache_key(user_id: int) -> str:
    return f"quota:override:{user_id}"


@receiver(post_save, sender=Quota)
@receiver(post_delete, sender=Quota)
def _quota_changed(sender: type[Quota], instance: Quota, **kwargs: object) -> None:
    # The API, the admin and a deleted user's cascade all end here.
    cache_invalidate(quota_override_cache_key(instance.user_id))


class QuotaPeriod(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class QuotaCounter(models.Model):
    """Tokens used and reserved by one user in one day or month (the row that is locked)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_counters"
    )
    period = models.CharField(max_length=8, choices=QuotaPeriod.choices)
    period_start = models.DateField()
    used_tokens = models.PositiveBigIntegerField(default=0)
    reserved_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period", "period_start"], name="quota_counter_unique_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.period} {self.period_start}"


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class QuotaReservation(models.Model):
    """Tokens held for one model call until its real count is known (also: a running call)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_reservations"
    )
    tokens = models.PositiveBigIntegerField()
    day_start = models.DateField()
    month_start = models.DateField()
    status = models.CharField(
        max_length=12, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    charged_tokens = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.tokens} tokens, {self.status})"


class GenerationStatus(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Generation(models.Model):
    """One prompt and its answer from ``/api/v1/ai/generate*`` (the caller's "ideas" history)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    prompt = models.TextField()
    response = models.TextField(blank=True, default="")
    model = models.CharField(max_length=128)
    status = models.CharField(
        max_length=12, choices=GenerationStatus.choices, default=GenerationStatus.COMPLETE
    )
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Items generated by one batch request share this id.
    batch_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="ai_generation_user_created")]

    def __str__(self) -> str:
        return f"Generation {self.pk} ({self.model}, {self.status})"


class GenerationRating(models.Model):
    """1-5 stars and an optional comment: one rating per user per generation (last wins)."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_ratings"
    )
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "user"], name="ai_generation_rating_one_per_user"
            ),
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="ai_generation_rating_stars"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars}★ on generation {self.generation_id}"
