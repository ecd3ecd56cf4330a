"""Request and response shapes of the chat REST API."""

from django.conf import settings
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
        # Served from the selector's prefetch: no query per session.
        return [str(document.pk) for document in session.documents.all()]


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


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=["up", "down"])
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


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


class SendMessageSerializer(serializers.Serializer):
    message = serializers.CharField(
        max_length=settings.CHAT_MESSAGE_MAX_CHARS, trim_whitespace=True
    )
    session_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    model = serializers.CharField(required=False, max_length=128)
