"""One generation service for every door that calls a chat model outside a chat session.

The chat turn (``chat.services.turns``), the OpenAI-compatible API (``/v1/``) and the generation
routes (``/api/v1/ai/``) share the same steps, written once here:

1. :func:`generation_model_resolve`: the configured provider, the offline switch and the model
   allow-list (``AI_ALLOWED_MODELS``);
2. :func:`generation_estimate` / :func:`generation_reserve`: the prompt plus the largest answer
   allowed, reserved against the caller's quota before any model call (``metering.quotas``);
3. the provider call, with its retries (``ai.providers``);
4. :func:`generation_meter`: the reservation settled with the real tokens (released when the
   call failed with nothing produced) and one ``UsageRecord``, in one transaction.

:func:`generation_complete` and :func:`generation_stream` run 3 and 4 for callers that keep no
chat message (the API doors); they also write one audit event per call.
"""

import asyncio
import base64
import contextlib
import struct
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from ai.metrics import generation_observe
from ai.providers import (
    ChatResult,
    ModelProvider,
    PromptMessage,
    ProviderError,
    Sampling,
    StreamDelta,
    StreamEnd,
    Usage,
    ensure_provider_allowed,
    get_provider,
)
from ai.providers.limits import cap_max_tokens, check_model_allowed
from ai.providers.references import format_references
from ai.providers.tokens import count_message_tokens, count_tokens
from config.exceptions import ApplicationError, PermissionDeniedError, current_request_id
from core import policies
from core.actor import Actor
from documents.embedding import embed_texts_metered
from documents.retrieval import retrieve_for_chat
from metering.models import UsageKind
from metering.quotas import quota_release, quota_reserve, quota_settle
from metering.usage import usage_record_create
from ops.audit import audit_log
from ops.flags import flag_enabled

logger = structlog.get_logger(__name__)

# Longest end-user label (OpenAI's ``user``) kept in an audit event.
END_USER_MAX = 256

# Strong references to settlements still running after their stream was cancelled.
_SETTLING: set[asyncio.Task] = set()


class StreamingDisabledError(ApplicationError):
    status_code = 409
    default_code = "STREAMING_DISABLED"
    default_detail = "Streaming is turned off on this server."


def generation_require_writer(actor: Actor) -> None:
    """Model calls spend the budget: viewers may read but not generate."""
    if not policies.can_write(actor):
        raise PermissionDeniedError("Your role (viewer) can read but not call models.")


def generation_model_resolve(*, model: str | None, pooled: bool) -> tuple[ModelProvider, str]:
    """The provider and the chat model to use, or ``ProviderError`` (disabled, not allowed).

    ``pooled``: the call runs on the server's long-lived loop and shares its connection pool.
    """
    provider = get_provider(pooled=pooled)
    ensure_provider_allowed(provider)
    return provider, check_model_allowed(model or provider.chat_model, default=provider.chat_model)


def generation_estimate(prompt: Sequence[PromptMessage], *, max_tokens: int | None = None) -> int:
    """Tokens to reserve: the prompt plus the largest answer the provider may produce."""
    return count_message_tokens(prompt) + cap_max_tokens(max_tokens)


def generation_reserve(
    *,
    actor: Actor,
    prompt: Sequence[PromptMessage],
    max_tokens: int | None = None,
    count: int = 1,
) -> int:
    """Reserve the quota for ``count`` calls of ``prompt`` (429 ``QUOTA_EXCEEDED`` if no room):
    the actor's own, and their member limit and organization budget where they act."""
    return quota_reserve(
        actor=actor, estimate=generation_estimate(prompt, max_tokens=max_tokens) * count
    )


def generation_meter(
    *,
    user_id: int,
    organization_id: Any,
    reservation_id: int | None,
    charge: bool,
    provider: str,
    model: str,
    usage: Usage,
    latency_ms: int,
    ttft_ms: int | None,
    error_kind: str | None = None,
    kind: str = UsageKind.CHAT,
    message_id: int | None = None,
    request_id: str | None = None,
) -> None:
    """Settle the reservation (``charge``: the tokens used; else released) and record usage.

    One transaction (a savepoint inside the caller's): the budget and the usage record never
    disagree. Cancelled and incomplete answers are charged for what was produced.
    """
    with transaction.atomic():
        if charge:
            quota_settle(reservation_id=reservation_id, tokens=usage.total_tokens)
        else:
            quota_release(reservation_id=reservation_id)
        usage_record_create(
            user=user_id,
            organization_id=organization_id,
            kind=kind,
            provider=provider,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            message_id=message_id,
            request_id=request_id,
        )
    generation_observe(
        provider=provider,
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        completion_tokens=usage.completion_tokens,
        error_kind=error_kind,
    )


@dataclass
class GenerationCall:
    """A planned model call of an API door: who, what, with which reservation."""

    actor: Actor
    provider: ModelProvider
    model: str
    prompt: list[PromptMessage]
    door: str  # "openai_api", "ai_generate": the audit event says which door was used
    max_tokens: int | None = None
    sampling: Sampling | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    reservation_id: int | None = None
    request_id: str = ""
    # OpenAI's ``user``: the caller's own label for its end user. Recorded for the operator
    # (audit event ``end_user``), never used for authentication or authorization.
    end_user: str = ""
    # Called with the answer and its status once metered (``store``, the generation history).
    on_finish: Callable[..., None] | None = None


def _sources(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "document_id": str(p.get("document_id")),
            "title": str(p.get("title") or ""),
            "page": p.get("page"),
            "score": round(float(p.get("score") or 0.0), 4),
        }
        for p in passages
    ]


def generation_plan(
    *,
    messages: list[PromptMessage],
    model: str | None,
    door: str,
    streaming: bool,
    max_tokens: int | None = None,
    sampling: Sampling | None = None,
    retrieval_top_k: int | None = None,
    actor: Actor,
    end_user: str = "",
) -> GenerationCall:
    """Check the caller and the model, ground the prompt if asked, and reserve the quota.

    ``retrieval_top_k``: add the caller's best-matching document passages to the prompt (the
    same retrieval as chat) and return them as the call's ``sources``. ``end_user``: the
    client's label of its end user (OpenAI's ``user``), recorded in the audit event.
    """
    generation_require_writer(actor)
    if streaming and not flag_enabled("streaming_enabled"):
        raise StreamingDisabledError()
    provider, chosen = generation_model_resolve(model=model, pooled=streaming)
    prompt = list(messages)
    sources: list[dict[str, Any]] = []
    if retrieval_top_k:
        query = next((m.content for m in reversed(prompt) if m.role == "user"), "")
        passages = retrieve_for_chat(actor=actor, query=query, top_k=retrieval_top_k)
        if passages:
            last_user = max(i for i, m in enumerate(prompt) if m.role == "user")
            prompt.insert(last_user, PromptMessage("system", format_references(passages)))
            sources = _sources(passages)
    reservation_id = generation_reserve(actor=actor, prompt=prompt, max_tokens=max_tokens)
    return GenerationCall(
        provider=provider,
        model=chosen,
        prompt=prompt,
        door=door,
        max_tokens=max_tokens,
        sampling=sampling,
        sources=sources,
        reservation_id=reservation_id,
        request_id=current_request_id(),
        actor=actor,
        end_user=end_user_label(end_user),
    )


def end_user_label(value: str | None) -> str:
    """OpenAI's ``user`` as recorded: printable characters only, at most ``END_USER_MAX``."""
    if not value:
        return ""
    return "".join(ch for ch in value if ch.isprintable())[:END_USER_MAX]


def _finish(
    call: GenerationCall,
    *,
    status: str,
    text: str,
    end: StreamEnd | ChatResult | None,
    latency_ms: int,
    ttft_ms: int | None,
    error: ProviderError | None = None,
) -> Usage:
    """Meter a finished API call and write its audit event; returns the usage charged."""
    if end is not None:
        usage, model = end.usage, end.model
    else:
        usage = Usage(count_message_tokens(call.prompt), count_tokens(text), reported=False)
        model = call.model
    failed = status == "failed"
    generation_meter(
        user_id=call.actor.required_user_id,
        organization_id=call.actor.organization_id,
        reservation_id=call.reservation_id,
        charge=not failed,
        provider=call.provider.name,
        model=model,
        usage=usage,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        error_kind=error.kind if error else None,
        request_id=call.request_id,
    )
    audit_log(
        action="ai_generation",
        actor=call.actor,
        target=call.actor.user,
        door=call.door,
        model=model,
        status=status,
        # Nested: the audit log drops top-level keys that look like secrets ("token").
        usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens},
        error=error.kind if error else None,
        **({"end_user": call.end_user} if call.end_user else {}),
    )
    if call.on_finish is not None:
        call.on_finish(text=text, model=model, usage=usage, sources=call.sources, status=status)
    return usage


async def _generate(call: GenerationCall) -> ChatResult:
    try:
        return await call.provider.generate_response(
            call.prompt, model=call.model, max_tokens=call.max_tokens, sampling=call.sampling
        )
    finally:
        await call.provider.aclose()


def generation_complete(call: GenerationCall) -> tuple[ChatResult, Usage]:
    """Run a planned call to its end (no stream): the answer and the usage charged.

    A provider failure is metered (the reservation released) and re-raised.
    """
    started = time.perf_counter()
    try:
        result = async_to_sync(_generate)(call)
    except ProviderError as exc:
        latency = int((time.perf_counter() - started) * 1000)
        _finish(
            call, status="failed", text="", end=None, latency_ms=latency, ttft_ms=None, error=exc
        )
        raise
    except BaseException:
        # An unexpected failure: the held tokens go back at once rather than at the TTL.
        quota_release(reservation_id=call.reservation_id)
        raise
    latency = int((time.perf_counter() - started) * 1000)
    usage = _finish(
        call, status="complete", text=result.text, end=result, latency_ms=latency, ttft_ms=latency
    )
    return result, usage


async def generation_stream(call: GenerationCall) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
    """Stream a planned call: the provider's deltas, then its ``StreamEnd``.

    However the stream stops (the end, a provider error, the consumer closing it because its
    client went away), the upstream request is closed and the call is metered exactly once:
    charged for what was produced, released when it failed before any text.
    """
    started = time.perf_counter()
    parts: list[str] = []
    end: StreamEnd | None = None
    error: ProviderError | None = None
    ttft_ms: int | None = None
    status = "complete"
    try:
        stream = call.provider.stream_response(
            call.prompt, model=call.model, max_tokens=call.max_tokens, sampling=call.sampling
        )
        async with contextlib.aclosing(stream) as items:
            async for item in items:
                if isinstance(item, StreamEnd):
                    end = item
                elif isinstance(item, StreamDelta) and item.text:
                    if ttft_ms is None:
                        ttft_ms = int((time.perf_counter() - started) * 1000)
                    parts.append(item.text)
                yield item
    except ProviderError as exc:
        error = exc
        status = "incomplete" if parts else "failed"
        raise
    except (asyncio.CancelledError, GeneratorExit):
        status = "cancelled"
        raise
    finally:
        if end is None and status == "complete":
            status = "cancelled"  # closed by the consumer before the end
        latency = int((time.perf_counter() - started) * 1000)
        settle = asyncio.ensure_future(
            sync_to_async(_finish)(
                call,
                status=status,
                text="".join(parts),
                end=end,
                latency_ms=latency,
                ttft_ms=ttft_ms,
                error=error,
            )
        )
        _SETTLING.add(settle)
        settle.add_done_callback(_SETTLING.discard)
        # Shielded: a second cancellation of the consumer must not lose the settlement.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(settle)


# --- Embeddings -----------------------------------------------------------------------------


def embedding_model_resolve(*, model: str | None) -> str:
    """The embedding model (the only one served) when ``model`` names it, else ProviderError."""
    served = get_provider().embedding_model
    if model and model != served:
        raise ProviderError(f"The model {model!r} does not exist.", kind="model_not_allowed")
    return served


def embedding_create(
    *,
    texts: list[str],
    model: str | None,
    dimensions: int | None,
    actor: Actor,
    end_user: str = "",
) -> tuple[list[list[float]], str, Usage]:
    """Embed ``texts`` for an API caller: reserved, metered and audited like a chat call."""
    generation_require_writer(actor)
    embedding_model_resolve(model=model)
    estimate = sum(count_tokens(text) for text in texts) or 1
    reservation_id = quota_reserve(actor=actor, estimate=estimate)
    try:
        result = embed_texts_metered(
            user_id=actor.required_user_id,
            organization_id=actor.organization_id,
            texts=texts,
            dimensions=dimensions,
        )
    except BaseException:
        quota_release(reservation_id=reservation_id)
        raise
    quota_settle(reservation_id=reservation_id, tokens=result.usage.total_tokens)
    audit_log(
        action="ai_embedding",
        actor=actor,
        target=actor.user,
        door="openai_api",
        model=result.model,
        inputs=len(texts),
        usage={"prompt_tokens": result.usage.prompt_tokens},
        **({"end_user": label} if (label := end_user_label(end_user)) else {}),
    )
    return result.vectors, result.model, result.usage


def embedding_base64(vector: list[float]) -> str:
    """A vector as OpenAI's ``encoding_format=base64``: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


# --- Batches --------------------------------------------------------------------------------


async def _run_batch(calls: list[GenerationCall], *, limit: int) -> list[tuple[Any, int]]:
    """Run every call, at most ``limit`` at once; each outcome is a result or its error."""
    semaphore = asyncio.Semaphore(max(1, limit))
    provider = calls[0].provider

    async def one(call: GenerationCall) -> tuple[Any, int]:
        async with semaphore:
            started = time.perf_counter()
            try:
                outcome: Any = await provider.generate_response(
                    call.prompt,
                    model=call.model,
                    max_tokens=call.max_tokens,
                    sampling=call.sampling,
                )
            except ProviderError as exc:
                outcome = exc
            return outcome, int((time.perf_counter() - started) * 1000)

    try:
        return await asyncio.gather(*(one(call) for call in calls))
    finally:
        await provider.aclose()


def generation_batch(
    *,
    prompts: list[list[PromptMessage]],
    model: str | None,
    door: str,
    max_tokens: int | None = None,
    sampling: Sampling | None = None,
    concurrency: int = 1,
    actor: Actor,
) -> list[tuple[ChatResult | ProviderError, Usage]]:
    """Run several prompts as one request: the quota for the whole batch is reserved before
    any call (a refusal calls nothing), at most ``concurrency`` calls run at once, a failed item
    leaves the others' answers, and the reservation is settled with the tokens of them all.
    """
    generation_require_writer(actor)
    provider, chosen = generation_model_resolve(model=model, pooled=False)
    estimate = sum(generation_estimate(prompt, max_tokens=max_tokens) for prompt in prompts)
    reservation_id = quota_reserve(actor=actor, estimate=estimate)
    calls = [
        GenerationCall(
            provider=provider,
            model=chosen,
            prompt=prompt,
            door=door,
            max_tokens=max_tokens,
            sampling=sampling,
            request_id=current_request_id(),
            actor=actor,
        )
        for prompt in prompts
    ]
    try:
        outcomes = async_to_sync(_run_batch)(calls, limit=concurrency)
    except BaseException:
        quota_release(reservation_id=reservation_id)
        raise
    results: list[tuple[ChatResult | ProviderError, Usage]] = []
    charged = 0
    # Each item is metered on its own (reservation_id None: the batch's is settled below).
    for call, (outcome, latency) in zip(calls, outcomes, strict=True):
        if isinstance(outcome, ProviderError):
            usage = _finish(
                call,
                status="failed",
                text="",
                end=None,
                latency_ms=latency,
                ttft_ms=None,
                error=outcome,
            )
        else:
            usage = _finish(
                call,
                status="complete",
                text=outcome.text,
                end=outcome,
                latency_ms=latency,
                ttft_ms=latency,
            )
            charged += usage.total_tokens
        results.append((outcome, usage))
    quota_settle(reservation_id=reservation_id, tokens=charged)
    return results
