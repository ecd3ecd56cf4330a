"""Several prompts as one request: one reservation, bounded concurrency, each item metered."""

import asyncio
import time
from typing import Any

from asgiref.sync import async_to_sync

from ai.providers import (
    ChatResult,
    PromptMessage,
    ProviderError,
    Sampling,
    Usage,
)
from chat.completions.calls import GenerationCall, generation_finish
from chat.completions.steps import (
    generation_estimate,
    generation_model_resolve,
    generation_require_writer,
)
from config.exceptions import current_request_id
from core.actor import Actor
from metering.quotas import quota_release, quota_reserve, quota_settle


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
    reservation_id = quota_reserve(user=actor.user, estimate=estimate)
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
            usage = generation_finish(
                call,
                status="failed",
                text="",
                end=None,
                latency_ms=latency,
                ttft_ms=None,
                error=outcome,
            )
        else:
            usage = generation_finish(
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
