"""Chat completions (OpenAI ``POST /v1/chat/completions``): one answer or server-sent events."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.throttles import DEFAULT_THROTTLES, ChatMessageThrottle
from ai.providers import ProviderError, Sampling, StreamDelta, StreamEnd, Usage
from chat.api.openai.base import DOOR, TAGS, OpenAIView, usage_body
from chat.api.openai.errors import provider_error
from chat.api.openai_serializers import (
    ChatCompletionChunkSerializer,
    ChatCompletionRequestSerializer,
    ChatCompletionSerializer,
    ErrorSerializer,
)
from chat.completions.calls import (
    GenerationCall,
    generation_complete,
    generation_plan,
    generation_stream,
)
from chat.services.exchange import chat_exchange_store
from core.actor import Actor, actor_from_request


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
                    yield chunk([], usage=usage_body(item.usage))
    except ProviderError as exc:
        body = provider_error(exc).data
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
            "usage": usage_body(usage),
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
