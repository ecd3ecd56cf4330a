"""Chat sessions and their messages (one message = the user's turn and the model's answer)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.tenant_models import TenantOwnedModel


class ChatSession(TenantOwnedModel):
    """A conversation of one user in one organization (private to its creator), optionally
    limited to some of the documents they may read there."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions"
    )
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=True)
    message_count = models.PositiveIntegerField(default=0)
    # Empty = retrieval over all of the user's ready documents.
    documents = models.ManyToManyField(
        "documents.Document", blank=True, related_name="chat_sessions"
    )

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="chat_session_user_created"),
            models.Index(
                fields=["organization", "user", "-created_at"], name="chat_session_org_user"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (MessageStatus.PENDING, MessageStatus.STREAMING)


class ChatMessage(TenantOwnedModel):
    """The user's ``message`` and the model's ``response`` (partial while streaming)."""

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    message = models.TextField()
    response = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    sources = models.JSONField(default=list, blank=True)
    feedback = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    # Streaming bookkeeping: end offset in ``response`` of each token frame (seq 1..n) that has
    # been persisted, so a resuming client gets exactly the frames it missed.
    token_ends = models.JSONField(default=list, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["session", "timestamp"], name="chat_message_session_ts")]

    def __str__(self) -> str:
        return self.message[:60]

    @property
    def seq(self) -> int:
        """Number of token frames persisted so far."""
        return len(self.token_ends)

    def frames_after(self, after_seq: int) -> list[tuple[int, str]]:
        """``(seq, content)`` of the persisted token frames after ``after_seq``."""
        frames = []
        start = self.token_ends[after_seq - 1] if 0 < after_seq <= len(self.token_ends) else 0
        for index in range(max(after_seq, 0), len(self.token_ends)):
            end = self.token_ends[index]
            frames.append((index + 1, self.response[start:end]))
            start = end
        return frames
