"""Retrieval for chat: the passages of the actor's documents that match a question."""

from typing import Any

from django.conf import settings

from core.actor import Actor
from documents import search
from documents.models import DocumentStatus
from documents.selectors import document_list


def retrieve_for_chat(
    *, actor: Actor, query: str, document_ids: list | None = None, top_k: int | None = None
) -> list[dict[str, Any]]:
    """``[{document_id, title, page, score, text}]`` best first; ``[]`` without ready documents.

    The cheap existence check comes first so a user with no documents never pays for an
    embedding call or a vector search.
    """
    ready = document_list(
        actor=actor, status=DocumentStatus.READY, document_ids=document_ids or None
    )
    if not query.strip() or not ready.exists():
        return []
    return list(
        search.search_chunks(
            actor=actor,
            query=query,
            top_k=int(top_k or settings.RAG_TOP_K),
            document_ids=document_ids,
        )
    )
