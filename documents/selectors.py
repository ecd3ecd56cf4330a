"""Reads of documents, always scoped to the acting user: anybody else's document is a 404.

``document_list`` is the only place that says which documents an actor may see (every other
read of documents starts from it), so tenancy changes this one function."""

import uuid

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.exceptions import NotFoundError
from core.actor import Actor
from documents.models import Document, DocumentStatus


def document_list(
    *, actor: Actor, status: str | None = None, document_ids: list | None = None
) -> QuerySet[Document]:
    """The actor's documents, newest first (optionally of one status, or only some ids)."""
    documents = Document.objects.filter(owner=actor.user)
    if status:
        documents = documents.filter(status=status)
    if document_ids is not None:
        documents = documents.filter(pk__in=document_ids)
    return documents.order_by("-created_at")


def document_get(*, actor: Actor, document_id: uuid.UUID | str) -> Document:
    try:
        return document_list(actor=actor).get(pk=document_id)
    except (Document.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        # A malformed id names no document of the user's: 404, like another user's.
        raise NotFoundError("Document not found.") from exc


def document_ready_titles(
    *, actor: Actor, document_ids: list[uuid.UUID | str] | None = None
) -> dict[str, str]:
    """``{document_id: title}`` of the actor's ready documents (optionally only some)."""
    documents = document_list(actor=actor, status=DocumentStatus.READY, document_ids=document_ids)
    return {str(pk): title for pk, title in documents.values_list("pk", "title")}
