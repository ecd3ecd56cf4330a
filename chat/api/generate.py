"""Seed 003's generation routes under ``/api/v1/ai/``: thin doors onto ``chat.ideas``."""

import json
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import VerifiedEmailRequired
from accounts.throttles import DEFAULT_THROTTLES, ChatMessageThrottle
from ai.models import Generation
from ai.providers import ProviderError, StreamDelta, StreamEnd
from ai.selectors import generation_get, generation_list
from chat.completions.calls import GenerationCall, generation_stream
from chat.ideas import (
    idea_generate,
    idea_generate_batch,
    idea_rate,
    idea_stream_plan,
    model_load,
)
from config.exceptions import error_envelope
from core.actor import actor_from_request

TAGS = ["ai"]
_ERRORS = {
    400: OpenApiResponse(description="Invalid input (error envelope)."),
    403: OpenApiResponse(description="Viewer role or scope (error envelope)."),
    429: OpenApiResponse(description="`QUOTA_EXCEEDED` or `RATE_LIMITED` (error envelope)."),
    502: OpenApiResponse(description="The model provider failed (error envelope)."),
}


class GenerateSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=16000, trim_whitespace=True)
    model = serializers.CharField(required=False, max_length=128)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)


class BatchSerializer(serializers.Serializer):
    prompts = serializers.ListField(
        child=serializers.CharField(max_length=16000), allow_empty=False
    )
    model = serializers.CharField(required=False, max_length=128)
    max_tokens = serializers.IntegerField(required=False, min_value=1)

    def validate_prompts(self, value: list[str]) -> list[str]:
        limit = int(settings.AI_BATCH_MAX_ITEMS)
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} prompts.")
        return value


class ServerSentEventSerializer(serializers.Serializer):
    """One event of the stream: ``event: <name>`` and ``data: <JSON>``."""

    event = serializers.ChoiceField(choices=["start", "token", "end", "error"])
    data = serializers.CharField(help_text="The event's JSON payload.")


class RatingSerializer(serializers.Serializer):
    stars = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class GenerationSerializer(serializers.ModelSerializer):
    rating = serializers.SerializerMethodField()

    class Meta:
        model = Generation
        fields = [
            "id",
            "prompt",
            "response",
            "model",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "batch_id",
            "created_at",
            "rating",
        ]

    def get_rating(self, obj: Generation) -> dict[str, Any] | None:
        rating = next(iter(obj.ratings.all()), None)  # prefetched; one per user
        if rating is None:
            return None
        return {"stars": rating.stars, "comment": rating.comment, "updated_at": rating.updated_at}


class BatchErrorSerializer(serializers.Serializer):
    kind = serializers.CharField()
    message = serializers.CharField()


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    ok = serializers.BooleanField()
    generation = GenerationSerializer(required=False)
    error = BatchErrorSerializer(required=False)


class BatchResultSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True)
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class ModelLoadSerializer(serializers.Serializer):
    model = serializers.CharField()
    provider = serializers.CharField()
    load_needed = serializers.BooleanField(help_text="False: the provider needs no load step.")
    loaded = serializers.BooleanField()
    detail = serializers.CharField()


class _WriterView(APIView):
    permission_classes = [IsAuthenticated, VerifiedEmailRequired]
    parser_classes = [JSONParser]
    throttle_classes = [*DEFAULT_THROTTLES, ChatMessageThrottle]


class GenerateView(_WriterView):
    @extend_schema(
        tags=TAGS,
        summary="Generate one answer (kept in your history)",
        request=GenerateSerializer,
        responses={201: GenerationSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        generation = idea_generate(actor=actor_from_request(request), **serializer.validated_data)
        return Response(GenerationSerializer(generation).data, status=status.HTTP_201_CREATED)


class GenerateBatchView(_WriterView):
    @extend_schema(
        tags=TAGS,
        summary="Generate several answers in one request",
        description="The quota for the whole batch is reserved before any call; prompts run "
        "at most `AI_BATCH_CONCURRENCY` at once; each item answers on its own (a failed item "
        "keeps the others).",
        request=BatchSerializer,
        responses={200: BatchResultSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = BatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = idea_generate_batch(actor=actor_from_request(request), **serializer.validated_data)
        ok = sum(1 for item in items if item["ok"])
        return Response(
            BatchResultSerializer(
                {"results": items, "succeeded": ok, "failed": len(items) - ok}
            ).data
        )


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Event-stream clients send ``Accept: text/event-stream``: errors still answer as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _idea_events(call: GenerationCall, generation_id: int) -> AsyncIterator[bytes]:
    yield _event("start", {"id": generation_id, "model": call.model})
    try:
        async for item in generation_stream(call):
            if isinstance(item, StreamDelta):
                yield _event("token", {"content": item.text})
            elif isinstance(item, StreamEnd):
                usage = item.usage
                yield _event(
                    "end",
                    {
                        "id": generation_id,
                        "finish_reason": item.finish_reason,
                        "usage": {
                            "prompt_tokens": usage.prompt_tokens,
                            "completion_tokens": usage.completion_tokens,
                            "total_tokens": usage.total_tokens,
                        },
                    },
                )
    except ProviderError as exc:
        yield _event(
            "error",
            error_envelope(message=str(exc), code="AI_PROVIDER_ERROR", details={"kind": exc.kind}),
        )


class StreamGenerateView(APIView):
    permission_classes = [IsAuthenticated, VerifiedEmailRequired]
    throttle_classes = [*DEFAULT_THROTTLES, ChatMessageThrottle]
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        tags=TAGS,
        summary="Generate one answer as server-sent events",
        description="Events: `start {id, model}`, `token {content}`..., then `end {id, "
        "finish_reason, usage}` or `error {envelope}`. The answer is kept in your history.",
        parameters=[
            OpenApiParameter("prompt", str, required=True),
            OpenApiParameter("model", str, required=False),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(response=ServerSentEventSerializer),
            **_ERRORS,
            409: OpenApiResponse(description="`STREAMING_DISABLED`: streaming is turned off."),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        serializer = GenerateSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        call, generation = idea_stream_plan(
            actor=actor_from_request(request), prompt=data["prompt"], model=data.get("model")
        )
        response = StreamingHttpResponse(
            _idea_events(call, generation.pk), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


class IdeasHistoryView(ListAPIView):
    """Your generations, newest first; ``?search=`` matches prompt or answer."""

    permission_classes = [IsAuthenticated]
    serializer_class = GenerationSerializer

    def get_queryset(self):
        return generation_list(
            actor=actor_from_request(self.request),
            search=self.request.query_params.get("search", ""),
        )

    @extend_schema(
        tags=TAGS,
        summary="Your generation history (paginated, searchable)",
        parameters=[OpenApiParameter("search", str, required=False)],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class IdeaRateView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=TAGS,
        summary="Rate one of your generations (1-5 stars; rating again replaces it)",
        request=RatingSerializer,
        responses={200: GenerationSerializer, 404: OpenApiResponse(description="Not yours.")},
    )
    def post(self, request: Request, generation_id: int) -> Response:
        serializer = RatingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        idea_rate(actor=actor, generation_id=generation_id, **serializer.validated_data)
        generation = generation_get(actor=actor, generation_id=generation_id)
        return Response(GenerationSerializer(generation).data)


class ModelLoadView(_WriterView):
    @extend_schema(
        tags=TAGS,
        summary="Load a model on providers that load on demand (Ollama)",
        description="Hosted providers answer `load_needed: false`.",
        request=None,
        responses={200: ModelLoadSerializer, 404: OpenApiResponse(description="Unknown model.")},
    )
    def post(self, request: Request, model_key: str) -> Response:
        return Response(
            ModelLoadSerializer(
                model_load(actor=actor_from_request(request), model_key=model_key)
            ).data
        )
