"""Failures of the ``openai`` SDK as ``ProviderError`` kinds, and the one retry policy.

The SDK's own retries are turned off: we retry here so that ``Retry-After`` is honoured up to
``AI_RETRY_AFTER_CAP``, every attempt shares one policy, and a stream is only retried before
its first token (text already shown to a user cannot be taken back).
"""

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import openai
from django.conf import settings

from ai.providers.base import (
    ProviderError,
)

T = TypeVar("T")


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
