"""Writes of documents: upload, delete and reindex. The ingestion pipeline that processes
them in the background is ``documents.pipeline``."""

import hashlib
import os
import unicodedata
from datetime import timedelta
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.services import user_require_verified
from ai.vectorstore import get_vector_store
from config.exceptions import (
    ApplicationError,
    ConflictError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from core import policies
from core.actor import Actor
from core.tenancy import current_organization_id
from core.tenant_models import organization_for_new_row
from documents.dispatch import document_dispatch
from documents.extraction import (
    UnsupportedFileError,
    decode_text,
    detect_file_type,
    pdf_page_count,
)
from documents.models import (
    Document,
    DocumentChunk,
    DocumentStatus,
    DocumentType,
    DocumentVisibility,
)
from ops.audit import audit_log
from tenants.models import Organization

logger = structlog.get_logger(__name__)


class UnsupportedMediaTypeError(ApplicationError):
    status_code = 415
    default_code = "UNSUPPORTED_MEDIA_TYPE"
    default_detail = "Only PDF, plain text and Markdown files are accepted."


# --- upload ----------------------------------------------------------------------------------
def _clean_name(name: str, limit: int = 255) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:limit]


def _require_writer(actor: Actor) -> None:
    # The rule of every door (REST, admin, commands): viewers read documents, never write.
    if not policies.can_write(actor):
        raise PermissionDeniedError(
            "Your role (viewer) can read but not create or change anything."
        )


def _require_changer(actor: Actor, document: Document) -> None:
    # Reading a document (own or shared) is not enough to change it: the owner, or an
    # organization admin for a shared one (core.policies.can_change_document).
    _require_writer(actor)
    shared = document.visibility == DocumentVisibility.SHARED
    if not policies.can_change_document(actor, owner_id=document.owner_id, shared=shared):
        raise PermissionDeniedError(
            "Only the document's owner, or an organization admin for a shared document, may "
            "change it."
        )


def _clean_visibility(visibility: str | None) -> str:
    value = visibility or DocumentVisibility.PRIVATE
    if value not in DocumentVisibility.values:
        raise ApplicationError(
            f"Visibility must be one of: {', '.join(DocumentVisibility.values)}.",
            code="VALIDATION_ERROR",
            details={"visibility": [f"Must be one of: {', '.join(DocumentVisibility.values)}."]},
        )
    return value


def _plan_limit(message: str, *, limit: str, maximum: int, current: int) -> PermissionDeniedError:
    return PermissionDeniedError(
        message, code="PLAN_LIMIT", details={"limit": limit, "max": maximum, "current": current}
    )


def _require_organization_room(*, organization_id: Any, size_bytes: int) -> None:
    """Refuse (``PLAN_LIMIT``) an upload over the organization's document or storage cap.

    Call inside the transaction that saves the document: the organization row is locked, so
    two uploads racing for the last slot are counted one after the other (PostgreSQL)."""
    organization = Organization.objects.select_for_update().filter(pk=organization_id).first()
    if organization is None:
        return
    if organization.max_documents is None and organization.max_storage_bytes is None:
        return
    # The organization's own rows by name (the cap counts every member's documents).
    existing = Document.all_organizations.filter(organization_id=organization_id)
    if organization.max_documents is not None:
        count = existing.count()
        if count + 1 > organization.max_documents:
            raise _plan_limit(
                f"The organization has reached its limit of {organization.max_documents} "
                "documents.",
                limit="max_documents",
                maximum=organization.max_documents,
                current=count,
            )
    if organization.max_storage_bytes is not None:
        used = int(existing.aggregate(n=Sum("size_bytes"))["n"] or 0)
        if used + size_bytes > organization.max_storage_bytes:
            raise _plan_limit(
                "The organization's document storage is full "
                f"({organization.max_storage_bytes:,} bytes).",
                limit="max_storage_bytes",
                maximum=organization.max_storage_bytes,
                current=used,
            )


def document_create(
    *,
    actor: Actor,
    uploaded_file: UploadedFile,
    title: str = "",
    visibility: str | None = None,
    dispatch: bool = True,
) -> tuple[Document, bool]:
    """Validate and store an upload by ``actor`` in their organization, then queue its
    ingestion.

    Returns ``(document, created)``; the same bytes uploaded again by the same user in the
    same organization return the existing document with ``created=False``. Nothing is stored
    when a check fails (the organization's caps: ``PLAN_LIMIT``). ``visibility``: ``private``
    (default) or ``shared`` with the organization. ``dispatch=False`` leaves the ingestion to
    the caller (the ``ingest`` command).
    """
    user_require_verified(actor=actor)  # REQUIRE_VERIFIED_EMAIL blocks uploads
    _require_writer(actor)
    visibility = _clean_visibility(visibility)
    owner = actor.user
    organization_id = (
        actor.organization_id or current_organization_id() or organization_for_new_row(owner.pk)
    )
    max_bytes = int(settings.DOCUMENT_MAX_UPLOAD_BYTES)
    if uploaded_file.size is not None and uploaded_file.size > max_bytes:
        raise PayloadTooLargeError(
            f"The file is larger than the limit of {max_bytes // (1024 * 1024)} MB.",
            code="FILE_TOO_LARGE",
            details={"max_bytes": max_bytes},
        )
    data = b"".join(uploaded_file.chunks())
    if len(data) > max_bytes:  # the declared size can lie
        raise PayloadTooLargeError(
            f"The file is larger than the limit of {max_bytes // (1024 * 1024)} MB.",
            code="FILE_TOO_LARGE",
            details={"max_bytes": max_bytes},
        )
    if not data:
        raise ApplicationError("The file is empty.", code="EMPTY_FILE")

    is_pdf = b"%PDF-" in data[:1024]
    text = None if is_pdf else decode_text(data)
    try:
        file_type = detect_file_type(data[:1024], decoded_text=text)
    except UnsupportedFileError as exc:
        raise UnsupportedMediaTypeError(str(exc)) from exc
    if file_type == DocumentType.PDF:
        pages = pdf_page_count(data)
        if pages is not None and pages > settings.DOCUMENT_MAX_PAGES:
            raise ApplicationError(
                f"The PDF has {pages} pages; the limit is {settings.DOCUMENT_MAX_PAGES}.",
                code="TOO_MANY_PAGES",
                details={"pages": pages, "max_pages": settings.DOCUMENT_MAX_PAGES},
            )
    elif text is not None and not text.strip():
        raise ApplicationError("The file contains no text.", code="EMPTY_FILE")

    digest = hashlib.sha256(data).hexdigest()
    # The owner's own documents in the organization (one row per owner and bytes there).
    own = Document.all_organizations.filter(organization_id=organization_id, owner_id=owner.pk)
    existing = own.filter(sha256=digest).first()
    if existing is not None:
        return existing, False
    if own.count() >= settings.DOCUMENT_MAX_PER_USER:
        raise ApplicationError(
            f"You have reached the limit of {settings.DOCUMENT_MAX_PER_USER} documents. "
            "Delete some to upload more.",
            code="DOCUMENT_LIMIT_REACHED",
        )

    original_name = _clean_name(uploaded_file.name or "")
    clean_title = _clean_name(title.replace("/", " "), 255) if title else ""
    document = Document(
        organization_id=organization_id,
        owner=owner,
        visibility=visibility,
        title=clean_title or os.path.splitext(original_name)[0] or "Untitled document",
        original_name=original_name,
        file_type=file_type,
        size_bytes=len(data),
        sha256=digest,
    )
    try:
        with transaction.atomic():
            _require_organization_room(organization_id=organization_id, size_bytes=len(data))
            # upload_to builds the stored name from the id and type, never the client's name.
            document.file.save("upload", ContentFile(data), save=False)
            document.save()
            if dispatch:
                transaction.on_commit(lambda: document_dispatch(document_id=document.id))
    except IntegrityError:
        # The same bytes raced in from another request of the same user.
        document.file.delete(save=False)
        return own.get(sha256=digest), False
    except Exception:
        document.file.delete(save=False)
        raise
    logger.info("document_uploaded", document_id=str(document.id), file_type=file_type)
    return document, True


# --- delete and reindex ----------------------------------------------------------------------
def document_delete(*, document: Document, actor: Actor) -> None:
    """Delete the document: its rows now, its file and vectors once the transaction commits
    (see ``document_cleanup``, connected to ``post_delete`` so admin and cascades do it too).
    Audited, with ``actor`` (the owner, an organization admin for a shared document, or a
    platform admin in the console)."""
    _require_changer(actor, document)
    document_id, title, owner_id = str(document.pk), document.title, document.owner_id
    with transaction.atomic():
        document.delete()
    logger.info("document_deleted", document_id=document_id)
    audit_log(
        action="document_deleted",
        actor=actor,
        target=None,
        document_id=document_id,
        title=title,
        owner_id=owner_id,
    )


def document_cleanup(*, document_id: str, file_name: str) -> None:
    """Remove what lives outside the database: the stored file and every vector."""
    if file_name:
        from django.core.files.storage import default_storage

        try:
            default_storage.delete(file_name)
        except OSError:
            logger.warning("document_file_delete_failed", document_id=document_id)
    try:
        async_to_sync(get_vector_store().delete_document)(document_id)
    except Exception:
        # Search also checks every hit against the database, so a leftover vector is never
        # shown; it is logged for the operator.
        logger.exception("document_vectors_delete_failed", document_id=document_id)


def document_payload_sync(*, document_id: Any) -> None:
    """Write the document's organization, owner and visibility, as the database has them
    now, into the payload of every vector of it (after a visibility change commits, and for
    ``manage.py reindex_payloads``). A failure is logged: until it is repaired the search
    filter errs on the side of the old payload, and every hit is checked against the database."""
    row = (
        Document.all_organizations.filter(pk=document_id)
        .values("organization_id", "owner_id", "visibility")
        .first()
    )
    if row is None:
        return
    payload = {
        "organization_id": str(row["organization_id"]),
        "owner_id": str(row["owner_id"]),
        "visibility": row["visibility"],
    }
    async_to_sync(get_vector_store().update_document_payload)(str(document_id), payload)


def _payload_sync_logged(document_id: Any) -> None:
    try:
        document_payload_sync(document_id=document_id)
    except Exception:
        logger.exception("document_payload_sync_failed", document_id=str(document_id))


def document_visibility_set(*, document: Document, actor: Actor, visibility: str) -> Document:
    """Share a document with its organization or make it private again (the owner, or an
    organization admin); its vectors' payload follows once the change commits. Audited."""
    _require_changer(actor, document)
    visibility = _clean_visibility(visibility)
    if visibility == document.visibility:
        return document
    previous = document.visibility
    with transaction.atomic():
        Document.all_organizations.filter(pk=document.pk).update(
            visibility=visibility, updated_at=timezone.now()
        )
        transaction.on_commit(lambda: _payload_sync_logged(document.pk))
    document.refresh_from_db()
    audit_log(
        action="document_visibility_changed",
        actor=actor,
        target=document,
        old_visibility=previous,
        new_visibility=visibility,
        owner_id=document.owner_id,
    )
    return document


def document_update(*, document: Document, actor: Actor, title: str) -> Document:
    """Rename a document (the owner, an organization admin for a shared one, the console);
    audited."""
    from ops.audit import audit_log

    _require_changer(actor, document)
    title = _clean_name(title) or document.title
    if title == document.title:
        return document
    previous = document.title
    document.title = title
    document.save(update_fields=["title", "updated_at"])
    audit_log(
        action="document_updated",
        actor=actor,
        target=document,
        old_title=previous,
        new_title=title,
        owner_id=document.owner_id,
    )
    return document


class DocumentFileMissingError(ApplicationError):
    status_code = 404
    default_code = "DOCUMENT_FILE_MISSING"
    default_detail = "The original file of this document is no longer stored."


def document_file_open(*, document: Document, actor: Actor) -> Any:
    """Open the stored original for ``actor`` (an admin; the console's download): returns an
    open file. Every download is audited - it is someone else's file."""
    from config.exceptions import PermissionDeniedError
    from ops.audit import audit_log

    if not policies.is_admin(actor):
        raise PermissionDeniedError("Only administrators may download other users' files.")
    if not document.file:
        raise DocumentFileMissingError()
    try:
        handle = document.file.storage.open(document.file.name or "", "rb")  # set: checked above
    except (FileNotFoundError, OSError) as exc:
        raise DocumentFileMissingError() from exc
    audit_log(
        action="document_downloaded",
        actor=actor,
        target=document,
        owner_id=document.owner_id,
        size_bytes=document.size_bytes,
    )
    return handle


def document_download_name(document: Document) -> str:
    """The name a download is saved under: the uploaded name, else the title with its type."""
    suffix = {"pdf": ".pdf", "text": ".txt", "markdown": ".md"}.get(document.file_type, "")
    name = _clean_name(document.original_name) or _clean_name(document.title) or "document"
    return name if os.path.splitext(name)[1] else f"{name}{suffix}"


def document_reindex(
    *, document: Document, actor: Actor, force: bool = False, dispatch: bool = True
) -> Document:
    """Run the whole pipeline again from the stored file (``dispatch=False``: the caller runs
    it, as ``manage.py reindex`` does). Audited when a user other than the owner asks (the
    console, an organization admin); the system (a command) is not."""
    _require_changer(actor, document)
    stale_before = timezone.now() - timedelta(seconds=int(settings.INGEST_STALL_SECONDS))
    if (
        not force
        and document.status == DocumentStatus.PROCESSING
        and document.updated_at > stale_before
    ):
        raise ConflictError("The document is being processed right now.", code="DOCUMENT_BUSY")
    with transaction.atomic():
        DocumentChunk.objects.filter(document=document).delete()
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.PENDING,
            error="",
            chunks=0,
            chunks_indexed=0,
            ingest_attempts=0,
            processed_at=None,
            updated_at=timezone.now(),
        )
        if dispatch:
            transaction.on_commit(lambda: document_dispatch(document_id=document.pk))
    document.refresh_from_db()
    if not actor.system and actor.user_id != document.owner_id:
        from ops.audit import audit_log

        audit_log(
            action="document_reindexed",
            actor=actor,
            target=document,
            owner_id=document.owner_id,
        )
    return document
