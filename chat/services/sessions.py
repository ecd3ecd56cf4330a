"""Writes of chat sessions: create, rename, archive, re-scope, delete."""

from django.db import transaction
from django.utils import timezone

from chat.models import ChatSession
from chat.services.access import require_writer
from config.exceptions import (
    ApplicationError,
)
from core.actor import Actor
from documents.models import Document
from documents.selectors import document_list
from ops.audit import audit_log

MAX_SESSION_DOCUMENTS = 100


def _readable_documents(*, actor: Actor, document_ids: list) -> list[Document]:
    """The documents a session may be limited to: ones the actor may read in the session's
    organization (their own or shared there); any other id is "unknown", never a hint."""
    ids = list(dict.fromkeys(document_ids))
    if len(ids) > MAX_SESSION_DOCUMENTS:
        raise ApplicationError(
            f"At most {MAX_SESSION_DOCUMENTS} documents per session.", code="VALIDATION_ERROR"
        )
    documents = list(document_list(actor=actor, document_ids=ids))
    if len(documents) != len(ids):
        raise ApplicationError(
            "Unknown document.", code="VALIDATION_ERROR", details={"document_ids": ["Not found."]}
        )
    return documents


@transaction.atomic
def chat_session_create(
    *, actor: Actor, title: str = "", document_ids: list | None = None
) -> ChatSession:
    require_writer(actor)
    session = ChatSession.objects.create(user=actor.user, title=title.strip()[:200] or "New chat")
    if document_ids:
        session.documents.set(_readable_documents(actor=actor, document_ids=document_ids))
    return session


@transaction.atomic
def chat_session_update(
    *,
    session: ChatSession,
    actor: Actor,
    title: str | None = None,
    is_active: bool | None = None,
    document_ids: list | None = None,
) -> ChatSession:
    """Rename, archive or re-scope a session. ``actor`` is who acts: the owner (the API) or an
    admin (the console), whose change to someone else's chat is audited."""
    require_writer(actor)
    before = {"title": session.title, "is_active": session.is_active}
    fields = ["updated_at"]
    if title is not None:
        session.title = title.strip()[:200] or session.title
        fields.append("title")
    if is_active is not None:
        session.is_active = is_active
        fields.append("is_active")
    session.updated_at = timezone.now()
    session.save(update_fields=fields)
    if document_ids is not None:
        session.documents.set(_readable_documents(actor=actor, document_ids=document_ids))
    changed = [f for f in ("title", "is_active") if getattr(session, f) != before[f]]
    if actor.user_id != session.user_id and changed:
        audit_log(
            action="chat_session_updated",
            actor=actor,
            target=session,
            owner_id=session.user_id,
            fields=changed,
        )
    return session


def chat_session_delete(*, session: ChatSession, actor: Actor) -> None:
    """Delete a session with its messages; an admin deleting someone else's is audited."""
    require_writer(actor)
    session_id, owner_id, title = session.pk, session.user_id, session.title
    session.delete()
    if actor.user_id != owner_id:
        audit_log(
            action="chat_session_deleted",
            actor=actor,
            session_id=session_id,
            owner_id=owner_id,
            title=title,
        )
