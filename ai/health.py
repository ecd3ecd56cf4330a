"""Health probes of the AI side: the vector store and the model provider configuration."""

import uuid
from typing import Any

import httpx
from django.conf import settings


def qdrant_health() -> dict[str, Any]:
    """Server mode: Qdrant's ``/readyz``, then a collection listing through the store.
    Embedded mode: the shard folder is writable and the store answers."""
    from ai.vectorstore import get_vector_store, selected_backend

    if settings.QDRANT_URL and selected_backend() == "client":
        headers = {"api-key": settings.QDRANT_API_KEY} if settings.QDRANT_API_KEY else {}
        response = httpx.get(
            settings.QDRANT_URL.rstrip("/") + "/readyz", headers=headers, timeout=2.0
        )
        response.raise_for_status()
    else:
        path = settings.QDRANT_PATH
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    return get_vector_store().health()


def provider_health() -> dict[str, Any]:
    """Report the configured provider; fail when its required settings are missing."""
    provider = settings.AI_PROVIDER
    if provider == "azure":
        missing = [
            name
            for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")
            if not getattr(settings, name)
        ]
    elif provider == "openai":
        missing = (
            [] if (settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY) else ["OPENAI_API_KEY"]
        )
    elif provider == "offline":
        missing = []
    else:
        raise ValueError(f"unknown AI_PROVIDER {provider!r}")
    if missing:
        raise ValueError("missing settings: " + ", ".join(missing))
    return {"provider": provider}
