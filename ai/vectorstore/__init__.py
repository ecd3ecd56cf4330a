"""The vector store: Qdrant Edge embedded in the process, or a Qdrant server via qdrant-client.

``get_vector_store()`` returns the backend the settings select (``QDRANT_BACKEND``, else
``QDRANT_URL`` set -> server, unset -> embedded). The instance is kept per process and per
configuration: a shard can only be opened once, and the client keeps its connections.
"""

import threading

from django.conf import settings

from ai.vectorstore.base import (
    ChunkPoint,
    SearchHit,
    SearchScope,
    VectorStore,
    VectorStoreError,
    chunk_point_id,
    collection_name,
)

__all__ = [
    "ChunkPoint",
    "SearchHit",
    "SearchScope",
    "VectorStore",
    "VectorStoreError",
    "chunk_point_id",
    "collection_name",
    "get_vector_store",
    "reset_vector_stores",
    "selected_backend",
]

_stores: dict[tuple, VectorStore] = {}
_lock = threading.Lock()


def selected_backend() -> str:
    backend = (settings.QDRANT_BACKEND or "").lower()
    if backend in ("edge", "client"):
        return backend
    if backend:
        raise VectorStoreError(f"Unknown QDRANT_BACKEND {backend!r} (edge or client).")
    return "client" if settings.QDRANT_URL else "edge"


def _key() -> tuple:
    return (
        selected_backend(),
        str(settings.QDRANT_PATH),
        settings.QDRANT_URL,
        settings.QDRANT_LOCATION,
        settings.QDRANT_COLLECTION_PREFIX,
    )


def get_vector_store() -> VectorStore:
    key = _key()
    store = _stores.get(key)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _build(key[0])
            _stores[key] = store
    return store


def _build(backend: str) -> VectorStore:
    if backend == "edge":
        from ai.vectorstore.edge import EdgeVectorStore

        return EdgeVectorStore(
            path=settings.QDRANT_PATH,
            prefix=settings.QDRANT_COLLECTION_PREFIX,
            rrf_k=settings.RAG_RRF_K,
        )
    from ai.vectorstore.client import QdrantClientVectorStore

    return QdrantClientVectorStore(
        prefix=settings.QDRANT_COLLECTION_PREFIX,
        url=settings.QDRANT_URL,
        api_key=settings.QDRANT_API_KEY,
        location=settings.QDRANT_LOCATION,
        timeout=settings.QDRANT_TIMEOUT,
        rrf_k=settings.RAG_RRF_K,
    )


def reset_vector_stores() -> None:
    """Close every open store (tests, and commands that hand the shards back)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
