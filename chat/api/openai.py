"""The OpenAI-compatible API under ``/v1/``: a door onto the generation service.

Clients built for OpenAI (the official SDKs, LangChain, IDE plugins) use the deployment's
models through its accounts: a personal API key with the ``openai`` scope (sent as
``Authorization: Bearer ak_...``) or an access token. Every call is checked, reserved, metered
and audited by ``chat.completions`` exactly like a chat turn; errors use OpenAI's shape
(``{"error": {message, type, code, param}}``) because that is what these clients parse.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import VerifiedEmailRequired
from accounts.throttles import DEFAULT_THROTTLES, ChatMessageThrottle
from ai.api.views import models_describe
from ai.providers import ProviderError, Sampling, StreamDelta, StreamEnd, Usage
from chat.api.generate import AnyAcceptNegotiation
from chat.api.openai_serializers import (
    ChatCompletionChunkSerializer,
    ChatCompletionRequestSerializer,
    ChatCompletionSerializer,
    EmbeddingListSerializer,
    EmbeddingRequestSerializer,
    ErrorSerializer,
    ModelListSerializer,
    ModelSerializer,
)
from chat.completions import (
    GenerationCall,
    embedding_base64,
    embedding_create,
    generation_complete,
    generation_plan,
    generation_stream,
)
from chat.services.exchange import chat_exchange_store
from config.exceptions import exception_to_envelope
from core.actor import Actor, actor_from_request
from tenants.authentication import (
    TenantAccessTokenAuthentication,
    TenantApiKeyAuthentication,
    TenantBearerApiKeyAuthentication,
)

TAGS = ["openai"]
DOOR = "openai_api"
_TYPES = {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error"}
# Upstream failures: what the caller may do about them.
_PROVIDER_STATUS = {"rate_limited": 503, "timeout": 504, "provider_disabled": 503}


def openai_error(
    *,
    status: int,
    message: str,
    code: str | None,
    type_: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if type_ is None:
        type_ = "server_error" if status >= 500 else _TYPES.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return Response(body, status=status, headers=headers or {})


def _provider_error(exc: ProviderError) -> Response:
    if exc.kind == "model_not_allowed":
        return openai_error(
            status=404,
            message=f"{exc} Call GET /v1/models for the models you may use.",
            code="model_not_found",
            param="model",
        )
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return openai_error(
        status=_PROVIDER_STATUS.get(exc.kind, 502),
        message=str(exc),
        code=exc.kind,
        headers=headers,
    )


def _first_param(details: dict[str, Any]) -> str | None:
    for key in details:
        if key != "non_field_errors":
            return key
    return None


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """This door's ``EXCEPTION_HANDLER``: the product's errors in OpenAI's shape."""
    if isinstance(exc, ProviderError):
        return _provider_error(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # Django's 500 path logs it once and answers
    status, envelope, headers = exception_to_envelope(exc)
    details = envelope.get("details") or {}
    message = envelope["message"]
    param = None
    if isinstance(exc, exceptions.ValidationError):
        param = _first_param(details)
        if param:
            first = details[param]
            while isinstance(first, (list, dict)) and first:
                first = first[0] if isinstance(first, list) else next(iter(first.values()))
            message = f"{param}: {first}"
    code = envelope["code"].lower()
    type_ = None
    if status == 401:
        code = "invalid_api_key"
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    elif status == 429:
        reason = details.get("reason", "")
        if reason in ("daily_tokens", "monthly_tokens"):
            type_ = code = "insufficient_quota"
            # Hours away: the SDKs' automatic retries cannot help (they honour this header).
            headers["x-should-retry"] = "false"
        else:
            type_, code = "requests", "rate_limit_exceeded"
        headers.setdefault("Retry-After", "1")
    return openai_error(
        status=status, message=message, code=code, type_=type_, param=param, headers=headers
    )


class OpenAIView(APIView):
    """Bearer API keys or access tokens, JSON in and out, errors in OpenAI's shape."""

    authentication_classes = [
        TenantBearerApiKeyAuthentication,
        TenantAccessTokenAuthentication,
        TenantApiKeyAuthentication,
    ]
    permission_classes = [IsAuthenticated, VerifiedEmailRequired]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAcceptNegotiation

    def get_exception_handler(self):
        return openai_exception_handler


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _model_card(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def _models(request: Request) -> list[dict[str, Any]]:
    # The key's organization narrows the models (its ``allowed_models``).
    described = models_describe(actor_from_request(request).organization)
    return [_model_card(m["id"], described["provider"]) for m in described["models"]]


class ModelListView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_models_list",
        summary="Models the caller may use (OpenAI `GET /v1/models`)",
        responses={200: ModelListSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": _models(request)})


class ModelDetailView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_models_retrieve",
        summary="One model (OpenAI `GET /v1/models/{model}`)",
        responses={200: ModelSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, model_id: str) -> Response:
        for card in _models(request):
            if card["id"] == model_id:
                return Response(card)
        return openai_error(
            status=404,
            message=f"The model {model_id!r} does not exist.",
            code="model_not_found",
            param="model",
        )


def _sse(event: dict[str, Any] | str) -> bytes:
    payload = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


async def _completion_events(
    call: GenerationCall, *, completion_id: str, created: int, include_usage: bool
) -> AsyncIterator[bytes]:
    """The ``chat.completion.chunk`` events of one stream, ``data: [DONE]`` last.

    A provider failure after the headers went out is an ``error`` event (the SDKs raise it).
    When the client goes away Django closes this iterator: ``generation_stream`` then closes
    the upstream request and charges what was produced.
    """

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": call.model,
                "system_fingerprint": None,
                "choices": choices,
                **extra,
            }
        )

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]

    yield chunk(choice({"role": "assistant", "content": ""}))
    try:
        async for item in generation_stream(call):
            if isinstance(item, StreamDelta):
                yield chunk(choice({"content": item.text}))
            elif isinstance(item, StreamEnd):
                extra = {"citations": call.sources} if call.sources else {}
                yield chunk(choice({}, item.finish_reason), **extra)
                if include_usage:
                    yield chunk([], usage=_usage(item.usage))
    except ProviderError as exc:
        body = _provider_error(exc).data
        yield _sse(body)
        return
    yield _sse("[DONE]")


class ChatCompletionsView(OpenAIView):
    throttle_classes = [*DEFAULT_THROTTLES, ChatMessageThrottle]

    @extend_schema(
        tags=TAGS,
        operation_id="openai_chat_completions_create",
        summary="Chat completion (OpenAI `POST /v1/chat/completions`)",
        description="`stream: true` answers `text/event-stream`: `data: {chat.completion.chunk}` "
        "events, then `data: [DONE]`. Extensions (`extra_body`): `retrieval: {enabled, top_k}` "
        "grounds the answer in the caller's documents and adds `citations`; `store: true` saves "
        "the exchange as a chat session.",
        request=ChatCompletionRequestSerializer,
        responses={
            (200, "application/json"): ChatCompletionSerializer,
            (200, "text/event-stream"): OpenApiResponse(
                response=ChatCompletionChunkSerializer,
                description="Server-sent events, one chunk per `data:` line.",
            ),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            # Streaming turned off by the `streaming_enabled` flag: use `stream: false`.
            409: ErrorSerializer,
            429: ErrorSerializer,
            502: ErrorSerializer,
            503: ErrorSerializer,
            504: ErrorSerializer,
        },
        examples=[
            OpenApiExample(
                "request",
                request_only=True,
                value={
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "Hello"}],
                    "stream": False,
                },
            )
        ],
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = ChatCompletionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        retrieval = data.get("retrieval") or {}
        actor = actor_from_request(request)
        call = generation_plan(
            actor=actor,
            messages=data["prompt"],
            model=data["model"],
            door=DOOR,
            streaming=data["stream"],
            max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
            sampling=Sampling(
                temperature=data.get("temperature"),
                top_p=data.get("top_p"),
                stop=data.get("stop"),
            ),
            retrieval_top_k=retrieval.get("top_k") if retrieval.get("enabled") else None,
            end_user=data.get("user") or "",
        )
        if data["store"]:
            call.on_finish = _store_exchange(actor=actor, data=data)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if data["stream"]:
            include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
            response = StreamingHttpResponse(
                _completion_events(
                    call, completion_id=completion_id, created=created, include_usage=include_usage
                ),
                content_type="text/event-stream",
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # nginx: forward each event at once
            return response
        result, usage = generation_complete(call)
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": result.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text, "refusal": None},
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(usage),
        }
        if call.sources:
            body["citations"] = call.sources
        return Response(body)


def _store_exchange(*, actor: Actor, data: dict[str, Any]):
    """The callback that saves a finished exchange as a chat session (``store: true``)."""
    question = next(m["content"] for m in reversed(data["messages"]) if m["role"] == "user")

    def store(
        *, text: str, model: str, usage: Usage, sources: list[dict[str, Any]], status: str
    ) -> None:
        if not text:
            return  # nothing was answered: nothing to keep
        chat_exchange_store(
            actor=actor, question=question, answer=text, model=model, usage=usage, sources=sources
        )

    return store


class EmbeddingsView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_embeddings_create",
        summary="Embeddings (OpenAI `POST /v1/embeddings`)",
        request=EmbeddingRequestSerializer,
        responses={
            200: EmbeddingListSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
            429: ErrorSerializer,
            502: ErrorSerializer,
            503: ErrorSerializer,
            504: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = EmbeddingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        vectors, model, usage = embedding_create(
            actor=actor_from_request(request),
            texts=data["input"],
            model=data["model"],
            dimensions=data.get("dimensions"),
            end_user=data.get("user") or "",
        )
        encode = embedding_base64 if data["encoding_format"] == "base64" else list
        return Response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": index, "embedding": encode(vector)}
                    for index, vector in enumerate(vectors)
                ],
                "model": model,
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "total_tokens": usage.total_tokens,
                },
            }
        )
