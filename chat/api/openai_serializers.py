"""Shapes of the OpenAI-compatible API (``/v1/``): requests validated here, answers documented.

The request fields are OpenAI's; unknown ones are ignored, as OpenAI-compatible servers do, so
that clients sending newer optional fields keep working.
"""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from ai.providers import PromptMessage

MAX_MESSAGES = 256
MAX_STOP_SEQUENCES = 4
MAX_EMBEDDING_INPUTS = 256
MAX_RETRIEVAL_TOP_K = 20
# OpenAI's "developer" role is the newer name of "system".
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MESSAGE_ROLES = sorted(_ROLES)


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise serializers.ValidationError("Only text content parts are supported.")
            if not isinstance(part.get("text"), str):
                raise serializers.ValidationError("A text part needs a string `text`.")
            texts.append(part["text"])
        return "".join(texts)
    raise serializers.ValidationError("`content` must be a string or a list of text parts.")


class MessageSerializer(serializers.Serializer):
    # A plain string checked below (an enum named "role" would collide with the user roles').
    role = serializers.CharField(help_text="`system`, `developer`, `user` or `assistant`.")
    content = serializers.JSONField(help_text="A string, or a list of `{type: text, text}` parts.")
    name = serializers.CharField(required=False, max_length=64)

    def validate_role(self, value: str) -> str:
        if value not in _ROLES:
            raise serializers.ValidationError(f"One of {', '.join(MESSAGE_ROLES)}.")
        return value

    def validate_content(self, value: Any) -> str:
        return _text_of(value)


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class RetrievalSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(default=False)
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_RETRIEVAL_TOP_K, default=5)


class ChatCompletionRequestSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=128)
    messages = MessageSerializer(many=True, allow_empty=False, max_length=MAX_MESSAGES)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    temperature = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=2.0
    )
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    stop = serializers.JSONField(required=False, allow_null=True)
    n = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1)
    user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="Your label of the end user: recorded in the call's audit event "
        "(`end_user`), never used for access.",
    )
    # Extensions (the SDKs send them with ``extra_body``).
    retrieval = RetrievalSerializer(
        required=False,
        allow_null=True,
        help_text="Extension: ground the answer in the caller's documents; the answer carries "
        "`citations`.",
    )
    store = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Extension: save the exchange as a chat session of the caller.",
    )

    def validate_stop(self, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if (
            not isinstance(stops, list)
            or len(stops) > MAX_STOP_SEQUENCES
            or not all(isinstance(s, str) and 0 < len(s) <= 256 for s in stops)
        ):
            raise serializers.ValidationError(
                f"A string or a list of at most {MAX_STOP_SEQUENCES} non-empty strings."
            )
        return tuple(stops) or None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        messages = attrs["messages"]
        total = sum(len(m["content"]) for m in messages)
        limit = int(settings.OPENAI_API_MAX_INPUT_CHARS)
        if total > limit:
            raise serializers.ValidationError(
                {"messages": [f"The messages are longer than {limit} characters in all."]}
            )
        if not any(m["role"] == "user" and m["content"].strip() for m in messages):
            raise serializers.ValidationError({"messages": ["At least one user message."]})
        attrs["prompt"] = [PromptMessage(_ROLES[m["role"]], m["content"]) for m in messages]
        return attrs


class EmbeddingRequestSerializer(serializers.Serializer):
    input = serializers.JSONField(help_text="A string or a list of strings.")
    model = serializers.CharField(max_length=128)
    encoding_format = serializers.ChoiceField(
        choices=["float", "base64"], required=False, default="float"
    )
    dimensions = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=8192
    )
    user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="Your label of the end user: recorded in the call's audit event "
        "(`end_user`), never used for access.",
    )

    def validate_input(self, value: Any) -> list[str]:
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts:
            raise serializers.ValidationError("A string or a non-empty list of strings.")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise serializers.ValidationError(f"At most {MAX_EMBEDDING_INPUTS} inputs.")
        if not all(isinstance(text, str) and text for text in texts):
            raise serializers.ValidationError(
                "Every input must be a non-empty string (token arrays are not supported)."
            )
        limit = int(settings.OPENAI_API_MAX_INPUT_CHARS)
        if sum(len(text) for text in texts) > limit:
            raise serializers.ValidationError(f"At most {limit} characters in all.")
        return texts


# --- Answers (documentation of the shapes the views build) ---------------------------------


class CompletionUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class CitationSerializer(serializers.Serializer):
    document_id = serializers.CharField()
    title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField()


class AssistantMessageSerializer(serializers.Serializer):
    role = serializers.CharField(help_text='Always `"assistant"`.')
    content = serializers.CharField()
    refusal = serializers.CharField(allow_null=True)


class ChoiceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessageSerializer()
    finish_reason = serializers.CharField()
    logprobs = serializers.JSONField(allow_null=True)


class ChatCompletionSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text='Always `"chat.completion"`.')
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceSerializer(many=True)
    usage = CompletionUsageSerializer()
    system_fingerprint = serializers.CharField(allow_null=True)
    citations = CitationSerializer(many=True, required=False, help_text="With `retrieval`.")


class DeltaSerializer(serializers.Serializer):
    role = serializers.CharField(required=False, help_text='`"assistant"` (first chunk).')
    content = serializers.CharField(required=False)


class ChunkChoiceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    delta = DeltaSerializer()
    finish_reason = serializers.CharField(allow_null=True)
    logprobs = serializers.JSONField(allow_null=True)


class ChatCompletionChunkSerializer(serializers.Serializer):
    """One ``data:`` event of a stream (the stream ends with ``data: [DONE]``)."""

    id = serializers.CharField()
    object = serializers.CharField(help_text='Always `"chat.completion.chunk"`.')
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChunkChoiceSerializer(many=True)
    usage = CompletionUsageSerializer(required=False, allow_null=True)
    citations = CitationSerializer(many=True, required=False, help_text="Final chunk.")


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text='Always `"model"`.')
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelListSerializer(serializers.Serializer):
    object = serializers.CharField(help_text='Always `"list"`.')
    data = ModelSerializer(many=True)


class EmbeddingSerializer(serializers.Serializer):
    object = serializers.CharField(help_text='Always `"embedding"`.')
    index = serializers.IntegerField()
    embedding = serializers.JSONField(help_text="Floats, or base64 of little-endian float32.")


class EmbeddingUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class EmbeddingListSerializer(serializers.Serializer):
    object = serializers.CharField(help_text='Always `"list"`.')
    data = EmbeddingSerializer(many=True)
    model = serializers.CharField()
    usage = EmbeddingUsageSerializer()


class ErrorBodySerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    code = serializers.CharField(allow_null=True)
    param = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """OpenAI's error shape (what OpenAI clients parse), not the product's envelope."""

    error = ErrorBodySerializer()
