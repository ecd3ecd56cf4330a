"""Azure OpenAI and OpenAI-compatible servers through the official ``openai`` SDK.

The SDK's own retries are turned off: we retry here so that ``Retry-After`` is honoured up to
``AI_RETRY_AFTER_CAP``, every attempt shares one policy, and a stream is only retried before
its first token (text already shown to a user cannot be taken back).
"""

import asyncio
import contextlib
import json
import random
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
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
from ai.providers.tokens import count_message_tokens, count_tokens

T = TypeVar("T")

# SDK clients by event loop, then by configuration (see OpenAICompatibleProvider.client).
_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Any]]" = (
    weakref.WeakKeyDictionary()
)

# Embedding requests are split so one call never exceeds what the APIs accept.
EMBEDDING_BATCH_SIZE = 256


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    raw = response.headers.get("retry-after-ms")
    if raw:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw) / 1000.0)
    raw = response.headers.get("retry-after")
    if raw:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw))
    return None


def classify(exc: BaseException) -> ProviderError:
    """Turn an SDK or transport exception into a ``ProviderError`` with a stable kind."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(
            "The model provider is rate limiting requests.",
            kind="rate_limited",
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("The model provider timed out.", kind="timeout")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return ProviderError("Could not reach the model provider.", kind="connection")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500:
            return ProviderError(
                f"The model provider failed ({status}).",
                kind="server_error",
                retry_after=_retry_after(exc),
            )
        if status in (401, 403):
            return ProviderError("The model provider refused our credentials.", kind="auth")
        if status == 404:
            return ProviderError("The model or deployment does not exist.", kind="not_found")
        return ProviderError(
            f"The model provider rejected the request ({status}).", kind="bad_request"
        )
    return ProviderError("The model provider call failed.", kind="error")


_RETRYABLE = frozenset({"rate_limited", "timeout", "connection", "server_error"})


async def with_retries(call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` with backoff on 429/5xx/connection errors, honouring capped Retry-After."""
    attempts = int(settings.AI_MAX_RETRIES) + 1
    cap = float(settings.AI_RETRY_AFTER_CAP)
    base = float(settings.AI_RETRY_BACKOFF_BASE)
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:
            error = classify(exc)
            if error.kind not in _RETRYABLE or attempt == attempts - 1:
                raise error from exc
            if error.retry_after is not None:
                delay = min(error.retry_after, cap)
            else:
                # Full jitter keeps many workers from retrying in lockstep.
                delay = min(cap, base * (2**attempt)) * (0.5 + random.random() / 2)  # noqa: S311
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class _IdleWatchdog:
    """Cancels the reading task when it has waited ``idle`` seconds for one line.

    ``asyncio.timeout`` per line scheduled (and cancelled) a timer for every token: with a
    thousand streams, a fifth of the event loop's time (profiled). This arms one timer per
    idle period: each line only stamps ``last``; when the timer fires early it re-arms.
    """

    __slots__ = ("fired", "handle", "idle", "last", "loop", "task", "waiting")

    def __init__(self, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.idle = idle
        self.last = self.loop.time()
        self.waiting = False
        self.fired = False
        self.handle = self.loop.call_at(self.last + idle, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.waiting and now - self.last >= self.idle and self.task is not None:
            self.fired = True
            self.task.cancel()
            return
        # Not waiting (the consumer holds the stream) or a line came since: look again later.
        start = self.last if self.waiting else now
        self.handle = self.loop.call_at(start + self.idle, self._check)

    def absorb(self) -> None:
        """The cancellation was this watchdog's own: the task is not being cancelled."""
        if self.task is not None:
            self.task.uncancel()

    def close(self) -> None:
        self.handle.cancel()


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
        watchdog = _IdleWatchdog(idle)
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


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI: model names are deployment names, the API version is explicit."""

    name = "azure"

    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str,
        api_version: str,
        chat_deployment: str,
        embedding_deployment: str,
        embedding_dimensions: int | None = None,
        pooled: bool = False,
    ) -> None:
        super().__init__(
            base_url=None,
            api_key=api_key,
            chat_model=chat_deployment,
            embedding_model=embedding_deployment,
            embedding_dimensions=embedding_dimensions,
            pooled=pooled,
        )
        self.endpoint = endpoint
        self.api_version = api_version

    def _client_key(self) -> tuple:
        return (
            type(self).__name__,
            self.endpoint,
            self.api_key,
            self.api_version,
            float(settings.AI_REQUEST_TIMEOUT),
        )

    def _make_client(self) -> Any:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.endpoint,
            api_key=self.api_key,
            api_version=self.api_version,
            timeout=float(settings.AI_REQUEST_TIMEOUT),
            max_retries=0,
        )
