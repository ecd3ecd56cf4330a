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
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
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
from documents.dispatch import document_dispatch
from documents.extraction import (
    UnsupportedFileError,
    decode_text,
    detect_file_type,
    pdf_page_count,
)
from documents.models import Document, DocumentChunk, DocumentStatus, DocumentType
from documents.selectors import document_list
from ops.audit import audit_log
from tenants.limits import organization_cap_check

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


def _require_plan_room(actor: Actor, size_bytes: int) -> None:
    # The organization's caps (its plan's documents and storage, tenants.limits): PLAN_LIMIT.
    organization = actor.organization
    if organization is None:
        return
    totals = Document.all_organizations.filter(organization_id=organization.pk).aggregate(
        count=Count("id"), size=Coalesce(Sum("size_bytes"), 0)
    )
    organization_cap_check(organization=organization, cap="documents", current=totals["count"])
    organization_cap_check(
        organization=organization, cap="storage_bytes", current=totals["size"], adding=size_bytes
    )


def document_create(
    *, actor: Actor, uploaded_file: UploadedFile, title: str = "", dispatch: bool = True
) -> tuple[Document, bool]:
    """Validate and store an upload by ``actor``, then queue its ingestion.

    Returns ``(document, created)``; the same bytes uploaded again by the same user return
    the existing document with ``created=False``. Nothing is stored when a check fails.
    ``dispatch=False`` leaves the ingestion to the caller (the ``ingest`` command).
    """
    user_require_verified(actor=actor)  # REQUIRE_VERIFIED_EMAIL blocks uploads
    _require_writer(actor)
    owner = actor.user
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
    existing = document_list(actor=actor).filter(sha256=digest).first()
    if existing is not None:
        return existing, False
    if document_list(actor=actor).count() >= settings.DOCUMENT_MAX_PER_USER:
        raise ApplicationError(
            f"You have reached the limit of {settings.DOCUMENT_MAX_PER_USER} documents. "
            "Delete some to upload more.",
            code="DOCUMENT_LIMIT_REACHED",
        )
    _require_plan_room(actor, len(data))

    original_name = _clean_name(uploaded_file.name or "")
    clean_title = _clean_name(title.replace("/", " "), 255) if title else ""
    document = Document(
        owner=owner,
        title=clean_title or os.path.splitext(original_name)[0] or "Untitled document",
        original_name=original_name,
        file_type=file_type,
        size_bytes=len(data),
        sha256=digest,
    )
    try:
        with transaction.atomic():
            # upload_to builds the stored name from the id and type, never the client's name.
            document.file.save("upload", ContentFile(data), save=False)
            document.save()
            if dispatch:
                transaction.on_commit(lambda: document_dispatch(document_id=document.id))
    except IntegrityError:
        # The same bytes raced in from another request of the same user.
        document.file.delete(save=False)
        return document_list(actor=actor).get(sha256=digest), False
    except Exception:
        document.file.delete(save=False)
        raise
    logger.info("document_uploaded", document_id=str(document.id), file_type=file_type)
    return document, True


# --- delete and reindex ----------------------------------------------------------------------
def document_delete(*, document: Document, actor: Actor) -> None:
    """Delete the document: its rows now, its file and vectors once the transaction commits
    (see ``document_cleanup``, connected to ``post_delete`` so admin and cascades do it too).
    Audited, with ``actor`` (the owner or an admin)."""
    _require_writer(actor)
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


def document_update(*, document: Document, actor: Actor, title: str) -> Document:
    """Rename a document (the console's change form); audited."""
    from ops.audit import audit_log

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
    console); the system (a command) is not."""
    _require_writer(actor)
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
