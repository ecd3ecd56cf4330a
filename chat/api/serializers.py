"""Request and response shapes of the chat REST API."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import ChatMessage, ChatSession, MessageStatus


class ChatSessionSerializer(serializers.ModelSerializer):
    document_ids = serializers.SerializerMethodField()

    class Meta:
        model = ChatSession
        fields = [
            "id",
            "title",
            "created_at",
            "updated_at",
            "is_active",
            "message_count",
            "document_ids",
        ]
        read_only_fields = fields

    def get_document_ids(self, session: ChatSession) -> list[str]:
        # Served by the selectors (chat_session_document_ids_attach, or the prefetch): no query
        # per session. The prefetch cache is read directly: ``session.documents`` builds a
        # related manager per row, which cost more than the rest of the row's rendering.
        attached = getattr(session, "document_ids", None)
        if attached is not None:
            return attached
        prefetched = getattr(session, "_prefetched_objects_cache", {}).get("documents")
        documents = session.documents.all() if prefetched is None else prefetched
        return [str(document.pk) for document in documents]


class ChatSessionCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    document_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=100, default=list
    )


class ChatSessionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    is_active = serializers.BooleanField(required=False)
    document_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=100
    )


class SourceSerializer(serializers.Serializer):
    document_id = serializers.CharField()
    title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField()
    snippet = serializers.CharField()


class MessageMetadataSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField(required=False)
    completion_tokens = serializers.IntegerField(required=False)
    total_tokens = serializers.IntegerField(required=False)
    ttft_ms = serializers.IntegerField(required=False, allow_null=True)
    latency_ms = serializers.IntegerField(required=False)
    finish_reason = serializers.CharField(required=False, allow_null=True)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": ["up", "down"]},
            {"type": "integer", "minimum": 1, "maximum": 5},
        ],
        "description": '"up" or "down"; or a score 1-5 (seed 003 clients): 4-5 count as '
        '"up", 1-3 as "down", and the score is kept.',
    }
)
class RatingField(serializers.Field):
    """Thumbs up/down, or a 1-5 score mapped onto them (the score is kept as well)."""

    default_error_messages = {"invalid": 'Send "up", "down" or a whole number from 1 to 5.'}

    def to_internal_value(self, data: Any) -> tuple[str, int | None]:
        if data in ("up", "down"):
            return data, None
        if isinstance(data, int) and not isinstance(data, bool) and 1 <= data <= 5:
            return ("up" if data >= 4 else "down"), data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class FeedbackSerializer(serializers.Serializer):
    rating = RatingField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["rating"], score = attrs["rating"]
        if score is not None:
            attrs["score"] = score
        return attrs


class ChatMessageSerializer(serializers.ModelSerializer):
    message_id = serializers.IntegerField(source="id", read_only=True)
    session_id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(choices=MessageStatus.choices, read_only=True)
    sources = SourceSerializer(many=True, read_only=True)
    metadata = MessageMetadataSerializer(read_only=True)
    feedback = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = ChatMessage
        fields = [
            "message_id",
            "session_id",
            "message",
            "response",
            "status",
            "sources",
            "metadata",
            "feedback",
            "timestamp",
        ]
        read_only_fields = fields


class RegenerateSerializer(serializers.Serializer):
    model = serializers.CharField(
        required=False,
        max_length=128,
        help_text="A model of `GET ai/models`; the default if absent.",
    )


class SendMessageSerializer(serializers.Serializer):
    message = serializers.CharField(
        max_length=settings.CHAT_MESSAGE_MAX_CHARS, trim_whitespace=True
    )
    session_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    model = serializers.CharField(required=False, max_length=128)
