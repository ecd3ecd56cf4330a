"""OpenAI and OpenAI-compatible servers through the official ``openai`` SDK."""

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncGenerator, Awaitable, Sequence
from typing import Any

import openai
from django.conf import settings

from ai.providers.base import (
    ChatResult,
    EmbeddingResult,
    ModelProvider,
    PromptMessage,
    ProviderError,
    Sampling,
    StreamDelta,
    StreamEnd,
    Usage,
)
from ai.providers.limits import cap_max_tokens, check_model_allowed
from ai.providers.openai_compat.retries import classify, with_retries
from ai.providers.openai_compat.watchdog import IdleWatchdog
from ai.providers.tokens import count_message_tokens, count_tokens

# SDK clients by event loop, then by configuration (see OpenAICompatibleProvider.client).
_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Any]]" = (
    weakref.WeakKeyDictionary()
)

# Embedding requests are split so one call never exceeds what the APIs accept.
EMBEDDING_BATCH_SIZE = 256


class OpenAICompatibleProvider(ModelProvider):
    """OpenAI itself or any server speaking its API (Ollama, vLLM, LM Studio)."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        chat_model: str,
        embedding_model: str,
        embedding_dimensions: int | None = None,
        pooled: bool = False,
    ) -> None:
        self.pooled = pooled
        self.base_url = base_url or None
        self.api_key = api_key
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.embedding_dimensions = embedding_dimensions
        self._client: Any = None

    def _make_client(self) -> Any:
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",
            timeout=float(settings.AI_REQUEST_TIMEOUT),
            max_retries=0,
        )

    def _client_key(self) -> tuple:
        return (
            type(self).__name__,
            self.base_url,
            self.api_key,
            float(settings.AI_REQUEST_TIMEOUT),
        )

    @property
    def client(self) -> Any:
        """The SDK client: private, or (``pooled``) shared by everything on this event loop.

        Building a client (TLS context, connection pool) costs milliseconds and a fresh TCP/TLS
        handshake per answer adds to every time-to-first-token, so long-lived loops (the ASGI
        server's, where generations run) share one per configuration. httpx async clients
        belong to one loop, so the pool is per loop: a per-process connection pool, nothing
        other workers must agree with. Short-lived loops (``async_to_sync``) use private
        clients and close them with :meth:`aclose`.
        """
        if self._client is None and not self.pooled:
            self._client = self._make_client()
        if self._client is None:
            loop = asyncio.get_running_loop()
            clients = _CLIENTS.setdefault(loop, {})
            key = self._client_key()
            if key not in clients:
                clients[key] = self._make_client()
            self._client = clients[key]
        return self._client

    def _model(self, model: str | None) -> str:
        return check_model_allowed(model or self.chat_model, default=self.chat_model)

    @staticmethod
    def _payload(messages: Sequence[PromptMessage]) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in messages]

    async def generate_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> ChatResult:
        chosen = self._model(model)
        response = await with_retries(
            lambda: self.client.chat.completions.create(
                model=chosen,
                messages=self._payload(messages),
                max_tokens=cap_max_tokens(max_tokens),
                **(sampling.as_kwargs() if sampling else {}),
            )
        )
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        if response.usage is not None:
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens or 0,
                completion_tokens=response.usage.completion_tokens or 0,
            )
        else:
            usage = Usage(count_message_tokens(messages), count_tokens(text), reported=False)
        return ChatResult(
            text=text,
            model=response.model or chosen,
            usage=usage,
            finish_reason=(choice.finish_reason if choice else None) or "stop",
        )

    async def stream_response(
        self,
        messages: Sequence[PromptMessage],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
        chosen = self._model(model)
        idle = float(settings.AI_STREAM_IDLE_TIMEOUT)

        def open_stream() -> Awaitable[Any]:
            # The SDK builds, authenticates and sends the request and turns error statuses into
            # its exceptions; the event stream itself is read raw: one ``json.loads`` per
            # chunk instead of the SDK's pydantic models (about 20x cheaper per token).
            request = self.client.chat.completions.with_streaming_response.create(
                model=chosen,
                messages=self._payload(messages),
                max_tokens=cap_max_tokens(max_tokens),
                stream=True,
                stream_options={"include_usage": True},
                **(sampling.as_kwargs() if sampling else {}),
            )
            return request.__aenter__()

        response = await with_retries(open_stream)
        parts: list[str] = []
        usage: Usage | None = None
        finish_reason: str | None = None
        reported_model = chosen
        iterator = response.iter_lines().__aiter__()
        # The idle watchdog: a server that stops sending without closing would otherwise
        # hold the generation (and the user's socket) forever.
        watchdog = IdleWatchdog(idle)
        try:
            while True:
                try:
                    watchdog.waiting = True
                    watchdog.last = watchdog.loop.time()
                    line = await iterator.__anext__()
                    watchdog.waiting = False
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError as exc:
                    if not watchdog.fired:
                        raise
                    watchdog.absorb()
                    raise ProviderError(
                        f"The model stream was idle for more than {idle:g} s.", kind="timeout"
                    ) from exc
                except Exception as exc:
                    error = classify(exc)
                    if error.kind in ("connection", "error"):
                        error = ProviderError(
                            "The model stream was interrupted.", kind="stream_interrupted"
                        )
                    raise error from exc
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise ProviderError(
                        "The model stream sent an unreadable event.", kind="stream_interrupted"
                    ) from exc
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error"):
                    raise ProviderError(
                        "The model provider failed mid-answer.", kind="stream_interrupted"
                    )
                if chunk.get("model"):
                    reported_model = chunk["model"]
                reported = chunk.get("usage")
                if reported:
                    usage = Usage(
                        prompt_tokens=reported.get("prompt_tokens") or 0,
                        completion_tokens=reported.get("completion_tokens") or 0,
                    )
                for choice in chunk.get("choices") or ():
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield StreamDelta(delta)
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
        finally:
            watchdog.close()
            # Closing the response releases the upstream request (cancel, disconnect, error).
            with contextlib.suppress(Exception):
                await response.close()
        if finish_reason is None:
            # A server that closes the connection cleanly mid-answer: not a complete answer.
            raise ProviderError(
                "The model stream ended before the answer was complete.", kind="stream_interrupted"
            )
        if usage is None:
            usage = Usage(
                count_message_tokens(messages), count_tokens("".join(parts)), reported=False
            )
        yield StreamEnd(model=reported_model, usage=usage, finish_reason=finish_reason)

    async def embed_texts(
        self, texts: Sequence[str], *, dimensions: int | None = None
    ) -> EmbeddingResult:
        vectors: list[list[float]] = []
        usage = Usage(reported=True)
        model = self.embedding_model
        extra: dict[str, Any] = {}
        if dimensions or self.embedding_dimensions:
            extra["dimensions"] = dimensions or self.embedding_dimensions
        for start in range(0, len(texts), EMBEDDING_BATCH_SIZE):
            batch = list(texts[start : start + EMBEDDING_BATCH_SIZE])
            response = await with_retries(
                lambda batch=batch: self.client.embeddings.create(
                    model=self.embedding_model, input=batch, **extra
                )
            )
            ordered = sorted(response.data, key=lambda item: item.index)
            vectors.extend(list(item.embedding) for item in ordered)
            model = response.model or model
            if response.usage is not None:
                usage.prompt_tokens += response.usage.prompt_tokens or 0
            else:
                usage.prompt_tokens += sum(count_tokens(t) for t in batch)
                usage.reported = False
        return EmbeddingResult(vectors=vectors, model=model, usage=usage)

    async def aclose(self) -> None:
        """Close a private client; a pooled one stays open for the loop's next caller."""
        client, self._client = self._client, None
        if client is None or self.pooled:
            return
        with contextlib.suppress(Exception):
            await client.close()
