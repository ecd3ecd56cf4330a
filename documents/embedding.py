"""Embedding calls through the configured provider, each one metered as a UsageRecord."""

import time
import uuid
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync

from ai.providers import EmbeddingResult, get_provider
from metering.usage import usage_record_create


async def _embed(texts: list[str], dimensions: int | None = None) -> tuple[EmbeddingResult, str]:
    # A fresh provider per call: its HTTP client must belong to this call's event loop.
    provider = get_provider()
    try:
        result = await provider.embed_texts(texts, dimensions=dimensions)
    finally:
        # Close the HTTP client on this loop, before async_to_sync closes the loop.
        await provider.aclose()
    return result, provider.name


def embed_texts_metered(
    *,
    user_id: int,
    organization_id: Any,
    texts: Sequence[str],
    document_id: uuid.UUID | str | None = None,
    dimensions: int | None = None,
) -> EmbeddingResult:
    """Embed ``texts`` (one vector each, in order) and record the call's tokens and latency.

    ``dimensions``: shortened vectors (API callers); documents use the configured size.
    ``organization_id``: the organization the usage is counted in (the caller's, the
    document's).
    """
    started = time.monotonic()
    result, provider_name = async_to_sync(_embed)(list(texts), dimensions)
    if len(result.vectors) != len(texts):
        raise ValueError(
            f"the provider returned {len(result.vectors)} vectors for {len(texts)} texts"
        )
    _record_usage(
        user_id=user_id,
        organization_id=organization_id,
        result=result,
        provider=provider_name,
        started=started,
        document_id=document_id,
    )
    return result


def _record_usage(
    *,
    user_id: int,
    organization_id: Any,
    result: EmbeddingResult,
    provider: str,
    started: float,
    document_id: uuid.UUID | str | None,
) -> None:
    usage_record_create(
        user=user_id,
        organization_id=organization_id,
        kind="embedding",
        provider=provider,
        model=result.model,
        usage=result.usage,
        latency_ms=int((time.monotonic() - started) * 1000),
        document_id=document_id,
    )


async def aembed_texts_metered(
    *,
    user_id: int,
    organization_id: Any,
    texts: Sequence[str],
    document_id: uuid.UUID | str | None = None,
) -> EmbeddingResult:
    from asgiref.sync import sync_to_async

    started = time.monotonic()
    result, provider_name = await _embed(list(texts))
    await sync_to_async(_record_usage)(
        user_id=user_id,
        organization_id=organization_id,
        result=result,
        provider=provider_name,
        started=started,
        document_id=document_id,
    )
    return result
