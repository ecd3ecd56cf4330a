"""Reads of documents, always scoped to the acting member: a document they may not read is a 404.

``document_list`` is the only place that says which documents an actor may see (every other
read of documents starts from it, retrieval's check of every vector hit included): in the
actor's organization, their own documents and the ones shared with the organization."""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from config.exceptions import ApplicationError, NotFoundError
from core.actor import Actor
from core.tenancy import organization_scope
from documents.models import Document, DocumentStatus, DocumentVisibility
from tenants.resolution import membership_resolve


def document_list(
    *,
    actor: Actor,
    status: str | None = None,
    document_ids: Sequence[uuid.UUID | str] | None = None,
) -> QuerySet[Document]:
    """The documents the actor may read, newest first (optionally of one status, or only
    some ids): in the actor's organization, their own and the ones shared with it.

    An actor without an organization (platform code acting for a user: deleting the user,
    their preview) gets the user's own documents, in whatever organizations the tenancy
    context lets the manager read."""
    documents = Document.objects.all()
    readable = Q(owner_id=actor.user_id) if actor.user_id is not None else Q(pk__in=[])
    if actor.organization_id is not None:
        documents = documents.filter(organization_id=actor.organization_id)
        readable |= Q(visibility=DocumentVisibility.SHARED)
    documents = documents.filter(readable)
    if status:
        documents = documents.filter(status=status)
    if document_ids is not None:
        documents = documents.filter(pk__in=document_ids)
    return documents.order_by("-created_at")


def document_get(*, actor: Actor, document_id: uuid.UUID | str) -> Document:
    try:
        return document_list(actor=actor).get(pk=document_id)
    except (Document.DoesNotExist, ValidationError, KeyError, ValueError, TypeError) as exc:
        # A malformed id names no document of the user's: 404, like another user's.
        raise NotFoundError("Document not found.") from exc


def document_ready_titles(
    *, actor: Actor, document_ids: Sequence[uuid.UUID | str] | None = None
) -> dict[str, str]:
    """``{document_id: title}`` of the actor's ready documents (optionally only some)."""
    documents = document_list(actor=actor, status=DocumentStatus.READY, document_ids=document_ids)
    return {str(pk): title for pk, title in documents.values_list("pk", "title")}


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


def document_file_link_token(*, actor: Actor, document: Document) -> str:
    """A short-lived signed token that opens ``document``'s file for the actor (a member who
    may read it).

    A plain link (a new tab at ``#page=N``) carries no Authorization header, so the link
    carries this instead: bound to the document, the actor's user and organization, valid
    ``FILE_LINK_SECONDS``, and redacted from every log line like any ``token=`` parameter."""
    return signing.dumps(
        {"d": str(document.pk), "u": int(actor.user.pk), "o": str(document.organization_id)},
        salt=FILE_LINK_SALT,
        compress=False,
    )


def document_for_file_link(*, document_id: str, token: str) -> Document:
    """The document a link token opens; 404 for a bad, expired or foreign token (no hint).

    Checked again when the link is opened: the user must still be an active member of the
    organization and still allowed to read the document (a document made private since, or a
    membership removed, closes the link)."""
    try:
        payload = signing.loads(token, salt=FILE_LINK_SALT, max_age=FILE_LINK_SECONDS)
    except signing.BadSignature as exc:
        raise NotFoundError("Document not found.") from exc
    if not isinstance(payload, dict) or payload.get("d") != str(document_id) or "o" not in payload:
        raise NotFoundError("Document not found.")
    try:
        user = User.objects.get(pk=int(payload["u"]), is_active=True)
        membership = membership_resolve(user=user, tenant=None, organization_id=payload["o"])
        actor = Actor(
            user=user, organization=membership.organization, membership_role=membership.role
        )
        with organization_scope(membership.organization_id):
            return document_list(actor=actor).select_related("owner").get(pk=document_id)
    except (
        User.DoesNotExist,
        Document.DoesNotExist,
        ApplicationError,
        ValidationError,
        ValueError,
        TypeError,
    ) as exc:
        raise NotFoundError("Document not found.") from exc
