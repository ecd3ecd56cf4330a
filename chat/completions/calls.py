"""A model call of an API door: planned, run to its end or streamed, metered and audited once."""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from asgiref.sync import async_to_sync, sync_to_async

from ai.providers import (
    ChatResult,
    ModelProvider,
    PromptMessage,
    ProviderError,
    Sampling,
    StreamDelta,
    StreamEnd,
    Usage,
)
from ai.providers.references import format_references
from ai.providers.tokens import count_message_tokens, count_tokens
from chat.completions.steps import (
    generation_meter,
    generation_model_resolve,
    generation_require_writer,
    generation_reserve,
)
from config.exceptions import ApplicationError, current_request_id
from core.actor import Actor
from documents.retrieval import retrieve_for_chat
from metering.quotas import quota_release
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
    reservation_id = generation_reserve(user=actor.user, prompt=prompt, max_tokens=max_tokens)
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


def generation_finish(
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
        generation_finish(
            call, status="failed", text="", end=None, latency_ms=latency, ttft_ms=None, error=exc
        )
        raise
    except BaseException:
        # An unexpected failure: the held tokens go back at once rather than at the TTL.
        quota_release(reservation_id=call.reservation_id)
        raise
    latency = int((time.perf_counter() - started) * 1000)
    usage = generation_finish(
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
            sync_to_async(generation_finish)(
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
