"""Reads of documents, always scoped to their owner: anybody else's document is a 404."""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.core import signing
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
    except (Document.DoesNotExist, ValidationError, KeyError, ValueError, TypeError) as exc:
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


# --- the file itself, for its owner -------------------------------------------------------------
FILE_LINK_SALT = "documents.file-link"
FILE_LINK_SECONDS = 300
FILE_CONTENT_TYPES = {
    "pdf": "application/pdf",
    # Markdown is shown as the text it is (a browser would offer text/markdown as a download).
    "text": "text/plain; charset=utf-8",
    "markdown": "text/plain; charset=utf-8",
}


def document_file_link_token(*, document: Document, user: Any) -> str:
    """A short-lived signed token that opens ``document``'s file for ``user`` (its owner).

    A plain link (a new tab at ``#page=N``) carries no Authorization header, so the link
    carries this instead: bound to the document and the user, valid ``FILE_LINK_SECONDS``, and
    redacted from every log line like any ``token=`` parameter."""
    return signing.dumps(
        {"d": str(document.pk), "u": int(user.pk)}, salt=FILE_LINK_SALT, compress=False
    )


def document_for_file_link(*, document_id: str, token: str) -> Document:
    """The document a link token opens; 404 for a bad, expired or foreign token (no hint)."""
    try:
        payload = signing.loads(token, salt=FILE_LINK_SALT, max_age=FILE_LINK_SECONDS)
    except signing.BadSignature as exc:
        raise NotFoundError("Document not found.") from exc
    if not isinstance(payload, dict) or payload.get("d") != str(document_id):
        raise NotFoundError("Document not found.")
    try:
        return Document.objects.select_related("owner").get(
            pk=document_id, owner_id=int(payload["u"]), owner__is_active=True
        )
    except (Document.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFoundError("Document not found.") from exc
