"""Health probes of the AI side: a real vector store query and a cached model provider call."""

import asyncio
import time
from typing import Any

import httpx
from django.conf import settings

from ai import providers, vectorstore
from ai.providers import ProviderError

# Below config.health's per-check timeout, so a slow provider is cached as down, not retried
# by every poll.
PROVIDER_PROBE_TIMEOUT = 2.5

# (provider identity) -> (expires at, monotonic; outcome). One per process: the probe must work
# without the cache (Redis) it may be reporting on.
_provider_probes: dict[tuple, tuple[float, dict[str, Any] | ProviderError]] = {}


def qdrant_health() -> dict[str, Any]:
    """Server mode: Qdrant's ``/readyz``, then the store's own query. Embedded mode: the store
    (which holds the index folder's lock, or fails naming ``QDRANT_URL``) opens and counts
    every shard."""
    if settings.QDRANT_URL and vectorstore.selected_backend() == "client":
        headers = {"api-key": settings.QDRANT_API_KEY} if settings.QDRANT_API_KEY else {}
        response = httpx.get(
            settings.QDRANT_URL.rstrip("/") + "/readyz", headers=headers, timeout=2.0
        )
        response.raise_for_status()
    return vectorstore.get_vector_store().health()


def _provider_settings_missing(provider: str) -> list[str]:
    if provider == "azure":
        return [
            name
            for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")
            if not getattr(settings, name)
        ]
    if provider == "openai":
        return [] if (settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY) else ["OPENAI_API_KEY"]
    if provider == "offline":
        return []
    raise ValueError(f"unknown AI_PROVIDER {provider!r}")


def _provider_identity() -> tuple:
    return (
        settings.AI_PROVIDER,
        settings.AZURE_OPENAI_ENDPOINT,
        settings.AZURE_OPENAI_EMBEDDING_DEPLOYMENT,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_EMBEDDING_MODEL,
    )


async def _probe_provider() -> dict[str, Any] | ProviderError:
    """One embedding of a short text through the configured provider (the call retrieval and
    ingestion depend on); no usage is recorded, it belongs to no user."""
    provider = providers.get_provider()
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(
            provider.embed_texts(["health check"]), timeout=PROVIDER_PROBE_TIMEOUT
        )
    except TimeoutError:
        return ProviderError("The provider did not answer the probe in time.", kind="timeout")
    except ProviderError as exc:
        return exc
    finally:
        await provider.aclose()
    return {
        "provider": provider.name,
        "embedding_model": result.model,
        "probe_ms": round((time.perf_counter() - started) * 1000, 1),
    }


async def provider_health() -> dict[str, Any]:
    """Report the provider; fail when its settings are missing or its probe call failed.

    The probe's outcome (success or failure) is kept ``HEALTH_PROVIDER_PROBE_SECONDS`` per
    process, so a load balancer polling ``/health/detailed`` does not call the model each time.
    """
    missing = _provider_settings_missing(settings.AI_PROVIDER)
    if missing:
        raise ValueError("missing settings: " + ", ".join(missing))
    key = _provider_identity()
    now = time.monotonic()
    cached = _provider_probes.get(key)
    if cached is not None and cached[0] > now:
        outcome, age = cached[1], None
    else:
        outcome = await _probe_provider()
        _provider_probes[key] = (now + float(settings.HEALTH_PROVIDER_PROBE_SECONDS), outcome)
        age = 0.0
    if isinstance(outcome, ProviderError):
        raise outcome
    return {**outcome, "cached": age is None}


def provider_probe_reset() -> None:
    """Forget cached probe outcomes (tests; an operator who just fixed the credentials)."""
    _provider_probes.clear()
