"""Hybrid search over the ready documents an actor may read: dense + BM25, fused with RRF.

Used by ``POST /api/v1/search`` and by grounded chat (``documents.retrieval``). Qdrant filters
every query server-side by the organization and (own or shared) visibility
(:class:`ai.vectorstore.SearchScope`); every hit is then checked against the documents the
actor may read in the database (``document_list``), so a leftover vector of a deleted
document, or one made private since, never reaches a response or a prompt.
"""

from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from ai.errors import provider_error_to_application, vector_store_error_to_application
from ai.providers import ProviderError
from ai.vectorstore import SearchScope, VectorStoreError, collection_name, get_vector_store
from config.exceptions import ApplicationError
from core.actor import Actor
from core.tenancy import TenantContextMissing
from documents.embedding import aembed_texts_metered
from documents.selectors import document_ready_titles


def _clean_query(query: str) -> str:
    query = (query or "").strip()
    if not query:
        raise ApplicationError("The query is empty.", code="VALIDATION_ERROR")
    if len(query) > settings.SEARCH_QUERY_MAX_CHARS:
        raise ApplicationError(
            f"The query is longer than {settings.SEARCH_QUERY_MAX_CHARS} characters.",
            code="VALIDATION_ERROR",
        )
    return query


def _clamp_top_k(top_k: int | None) -> int:
    value = int(top_k or settings.RAG_TOP_K)
    return max(1, min(value, int(settings.RAG_MAX_TOP_K)))


def search_scope(actor: Actor) -> SearchScope:
    """The vector filter of the actor: their organization, their own or shared chunks."""
    if actor.organization_id is None or actor.user_id is None:
        # A door that searches has resolved an organization; not having one is a bug.
        raise TenantContextMissing("Searching documents needs a member of an organization.")
    return SearchScope(organization_id=str(actor.organization_id), owner_id=str(actor.user_id))


async def asearch_chunks(
    *, actor: Actor, query: str, top_k: int | None = None, document_ids: list | None = None
) -> list[dict[str, Any]]:
    """``[{document_id, title, page, score, text}]`` best first, from the documents the actor
    may read in their organization."""
    scope = search_scope(actor)
    query = _clean_query(query)
    top_k = _clamp_top_k(top_k)
    wanted = [str(d) for d in document_ids] if document_ids is not None else None
    titles = await sync_to_async(document_ready_titles)(actor=actor, document_ids=wanted)
    if not titles:
        return []
    # A provider or vector store outage is the documented 502/503 envelope (REST) or error
    # frame (WebSocket) on every door that searches, never a 500 or a bare close.
    try:
        result = await aembed_texts_metered(
            user_id=actor.required_user_id,
            organization_id=actor.organization_id,
            texts=[query],
        )
    except ProviderError as exc:
        raise provider_error_to_application(exc) from exc
    try:
        hits = await get_vector_store().search(
            collection_name(result.model, result.dimensions),
            scope=scope,
            dense_vector=result.vectors[0],
            query_text=query,
            # Ask for a few more when not restricted: hits of documents that are not ready
            # (being reindexed) are dropped below.
            limit=top_k if wanted is not None else top_k + 5,
            document_ids=list(titles) if wanted is not None else None,
            min_dense_score=settings.RAG_MIN_SCORE,
        )
    except VectorStoreError as exc:
        raise vector_store_error_to_application(exc) from exc
    results = [
        {
            "document_id": hit.document_id,
            "title": titles[hit.document_id],
            "page": hit.page,
            "score": round(hit.score, 6),
            "text": hit.text,
            "chunk_index": hit.chunk_index,
        }
        for hit in hits
        if hit.document_id in titles
    ]
    return results[:top_k]


def search_chunks(
    *, actor: Actor, query: str, top_k: int | None = None, document_ids: list | None = None
) -> list[dict[str, Any]]:
    """Synchronous :func:`asearch_chunks` (views, Celery, the chat's sync path)."""
    return async_to_sync(asearch_chunks)(
        actor=actor, query=query, top_k=top_k, document_ids=document_ids
    )
