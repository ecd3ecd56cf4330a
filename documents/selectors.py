"""Reads of documents, always scoped to their owner: anybody else's document is a 404."""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet

from config.exceptions import NotFoundError
from documents.models import Document, DocumentChunk, DocumentStatus


def document_list(*, user: Any, status: str | None = None) -> QuerySet[Document]:
    documents = Document.objects.filter(owner=user)
    if status:
        documents = documents.filter(status=status)
    return documents.order_by("-created_at")


def document_get(*, document_id: uuid.UUID | str, user: Any) -> Document:
    try:
        return Document.objects.get(pk=document_id, owner=user)
    except (Document.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        # A malformed id names no document of the user's: 404, like another user's.
        raise NotFoundError("Document not found.") from exc


def document_ready_titles(
    *, user: Any, document_ids: Sequence[uuid.UUID | str] | None = None
) -> dict[str, str]:
    """``{document_id: title}`` of the user's ready documents (optionally only some)."""
    documents = Document.objects.filter(owner=user, status=DocumentStatus.READY)
    if document_ids is not None:
        documents = documents.filter(pk__in=document_ids)
    return {str(pk): title for pk, title in documents.values_list("pk", "title")}


def document_chunks(*, document: Document) -> QuerySet[DocumentChunk]:
    return DocumentChunk.objects.filter(document=document).order_by("chunk_index")


def document_stats(now: dt.datetime) -> dict[str, Any]:
    """The documents part of the platform statistics: how many, by status."""
    by_status = dict.fromkeys(DocumentStatus.values, 0)
    for row in Document.objects.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    return {"documents": {"total": sum(by_status.values()), "by_status": by_status}}
