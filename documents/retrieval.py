"""Retrieval for chat: the passages of the user's documents that match a question."""

from typing import Any

from django.conf import settings

from documents import search
from documents.models import Document, DocumentStatus


def retrieve_for_chat(
    *, user: Any, query: str, document_ids: list | None = None, top_k: int | None = None
) -> list[dict[str, Any]]:
    """``[{document_id, title, page, score, text}]`` best first; ``[]`` without ready documents.

    The cheap existence check comes first so a user with no documents never pays for an
    embedding call or a vector search.
    """
    ready = Document.objects.filter(owner=user, status=DocumentStatus.READY)
    if document_ids:
        ready = ready.filter(pk__in=document_ids)
    if not query.strip() or not ready.exists():
        return []
    return list(
        search.search_chunks(
            user=user,
            query=query,
            top_k=top_k or int(settings.RAG_TOP_K),
            document_ids=document_ids,
        )
    )
