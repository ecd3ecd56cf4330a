"""Writes of documents: upload, delete, reindex, and the ingestion pipeline itself.

Pipeline: extract per page (pypdf) -> chunk by tokens keeping page and offsets (saved as
``DocumentChunk`` rows) -> embed in batches through the provider -> upsert into Qdrant,
saving ``chunks_indexed`` after every batch so an interrupted run resumes where it stopped.
"""

import hashlib
import os
import time
import unicodedata
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ai.documents.chunking import chunk_pages
from ai.documents.embedding import embed_texts_metered
from ai.documents.extraction import (
    ExtractionError,
    UnsupportedFileError,
    decode_text,
    detect_file_type,
    extract_pages,
    pdf_page_count,
)
from ai.models import Document, DocumentChunk, DocumentStatus, DocumentType
from ai.providers import ProviderError
from ai.vectorstore import ChunkPoint, VectorStoreError, collection_name, get_vector_store
from config.exceptions import ApplicationError, ConflictError, PayloadTooLargeError

logger = structlog.get_logger(__name__)

ProgressCallback = Callable[[str, int, int], None]


class UnsupportedMediaTypeError(ApplicationError):
    status_code = 415
    default_code = "UNSUPPORTED_MEDIA_TYPE"
    default_detail = "Only PDF, plain text and Markdown files are accepted."


# --- upload ----------------------------------------------------------------------------------
def _clean_name(name: str, limit: int = 255) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:limit]


def document_create(
    *, owner: Any, uploaded_file: UploadedFile, title: str = "", dispatch: bool = True
) -> tuple[Document, bool]:
    """Validate and store an upload, then queue its ingestion.

    Returns ``(document, created)``; the same bytes uploaded again by the same user return
    the existing document with ``created=False``. Nothing is stored when a check fails.
    ``dispatch=False`` leaves the ingestion to the caller (the ``ingest`` command).
    """
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
    existing = Document.objects.filter(owner=owner, sha256=digest).first()
    if existing is not None:
        return existing, False
    if Document.objects.filter(owner=owner).count() >= settings.DOCUMENT_MAX_PER_USER:
        raise ApplicationError(
            f"You have reached the limit of {settings.DOCUMENT_MAX_PER_USER} documents. "
            "Delete some to upload more.",
            code="DOCUMENT_LIMIT_REACHED",
        )

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
        return Document.objects.get(owner=owner, sha256=digest), False
    except Exception:
        document.file.delete(save=False)
        raise
    logger.info("document_uploaded", document_id=str(document.id), file_type=file_type)
    return document, True


def document_dispatch(*, document_id: uuid.UUID | str) -> None:
    """Queue the ingestion task (runs inline in embedded mode)."""
    from ai.tasks import document_ingest_task

    document_ingest_task.delay(str(document_id))


# --- delete and reindex ----------------------------------------------------------------------
def document_delete(*, document: Document, actor: Any = None, request: Any = None) -> None:
    """Delete the document: its rows now, its file and vectors once the transaction commits
    (see ``document_cleanup``, connected to ``post_delete`` so admin and cascades do it too).
    Audited, with ``actor`` (the owner or an admin) when known."""
    from accounts.audit import audit_log

    document_id, title, owner_id = str(document.pk), document.title, document.owner_id
    with transaction.atomic():
        document.delete()
    logger.info("document_deleted", document_id=document_id)
    audit_log(
        action="document_deleted",
        actor=actor,
        target=None,
        request=request,
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


def document_reindex(*, document: Document, force: bool = False) -> Document:
    """Run the whole pipeline again from the stored file."""
    stale_before = timezone.now() - timedelta(seconds=_stale_after_seconds())
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
        transaction.on_commit(lambda: document_dispatch(document_id=document.pk))
    document.refresh_from_db()
    return document


# --- the pipeline ------------------------------------------------------------------------------
def _stale_after_seconds() -> int:
    return int(settings.INGEST_TIME_LIMIT) + 60


def _fail(document_id: uuid.UUID, reason: str) -> None:
    Document.objects.filter(pk=document_id).update(
        status=DocumentStatus.FAILED, error=reason[:2000], updated_at=timezone.now()
    )
    logger.info("document_failed", document_id=str(document_id), reason=reason)


def document_ingest(
    *, document_id: uuid.UUID | str, progress: ProgressCallback | None = None
) -> str | None:
    """Run (or resume) the pipeline for one document. Never raises for a bad file: the
    document ends ``ready`` or ``failed`` with a plain reason. Returns the collection the
    vectors went to, or None when nothing was indexed."""
    claimed = Document.objects.filter(
        pk=document_id, status__in=[DocumentStatus.PENDING, DocumentStatus.PROCESSING]
    ).update(
        status=DocumentStatus.PROCESSING,
        ingest_attempts=F("ingest_attempts") + 1,
        error="",
        updated_at=timezone.now(),
    )
    if not claimed:
        return None  # deleted, or already finished
    document = Document.objects.select_related("owner").get(pk=document_id)
    if document.ingest_attempts > settings.INGEST_MAX_ATTEMPTS:
        _fail(
            document.pk,
            f"Processing was interrupted {settings.INGEST_MAX_ATTEMPTS} times; giving up. "
            "Reindex to try again.",
        )
        return None
    started = time.monotonic()
    deadline = started + int(settings.INGEST_TIME_LIMIT)
    try:
        return _run_pipeline(document, deadline=deadline, progress=progress)
    except SoftTimeLimitExceeded:
        _fail(document.pk, "Processing took longer than the time limit for one document.")
    except ExtractionError as exc:
        _fail(document.pk, str(exc))
    except ProviderError as exc:
        _fail(document.pk, f"The embedding service failed ({exc}). Reindex to try again.")
    except VectorStoreError as exc:
        _fail(document.pk, f"The vector store failed ({exc}). Reindex to try again.")
    except Exception:
        logger.exception("document_ingest_crashed", document_id=str(document.pk))
        _fail(document.pk, "An unexpected error stopped the processing. Reindex to try again.")
    finally:
        _ingest_observe(document.pk, started)
    return None


def _ingest_observe(document_id: uuid.UUID, started: float) -> None:
    from ai.metrics import AI_INGESTION_DURATION

    status = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
    AI_INGESTION_DURATION.labels(outcome=status or "deleted").observe(time.monotonic() - started)


def _extract_and_chunk(
    document: Document, *, deadline: float, progress: ProgressCallback | None
) -> None:
    """First phase: text and chunk rows. Skipped on resume when the rows already exist."""
    with document.file.open("rb") as handle:
        data = handle.read(int(settings.DOCUMENT_MAX_UPLOAD_BYTES) + 1)
    if len(data) > settings.DOCUMENT_MAX_UPLOAD_BYTES:
        raise ExtractionError("The file is larger than the upload limit.")
    pages = extract_pages(
        data,
        document.file_type,
        max_pages=int(settings.DOCUMENT_MAX_PAGES),
        max_chars=int(settings.DOCUMENT_MAX_TEXT_CHARS),
        deadline=deadline,
        on_page=(lambda done, total: progress("extract", done, total)) if progress else None,
    )
    specs = chunk_pages(
        pages, chunk_tokens=int(settings.CHUNK_TOKENS), overlap=int(settings.CHUNK_OVERLAP)
    )
    if not specs:
        if document.file_type == DocumentType.PDF:
            raise ExtractionError(
                "No text could be extracted from the PDF (it may contain only scanned images)."
            )
        raise ExtractionError("The file contains no text.")
    with transaction.atomic():
        DocumentChunk.objects.filter(document=document).delete()
        DocumentChunk.objects.bulk_create(
            [
                DocumentChunk(
                    document=document,
                    chunk_index=s.chunk_index,
                    page=s.page,
                    char_start=s.char_start,
                    char_end=s.char_end,
                    token_count=s.token_count,
                    text=s.text,
                )
                for s in specs
            ],
            batch_size=500,
        )
        Document.objects.filter(pk=document.pk).update(
            pages=len(pages), chunks=len(specs), chunks_indexed=0, updated_at=timezone.now()
        )
    document.pages, document.chunks, document.chunks_indexed = len(pages), len(specs), 0


def _run_pipeline(
    document: Document, *, deadline: float, progress: ProgressCallback | None
) -> str | None:
    store = get_vector_store()
    rows = DocumentChunk.objects.filter(document=document)
    if document.chunks == 0 or rows.count() != document.chunks:
        _extract_and_chunk(document, deadline=deadline, progress=progress)
        # A fresh run: vectors of an earlier run (other chunking, other model) must go.
        async_to_sync(store.delete_document)(str(document.pk))
    total = document.chunks
    done = document.chunks_indexed
    batch_size = max(1, int(settings.EMBED_BATCH_SIZE))
    owner_id = str(document.owner_id)
    collection: str | None = None
    if progress:
        progress("embed", done, total)
    while done < total:
        if time.monotonic() > deadline:
            raise ExtractionError("Processing took longer than the time limit for one document.")
        batch = list(
            rows.filter(chunk_index__gte=done)
            .order_by("chunk_index")
            .values("chunk_index", "page", "text")[:batch_size]
        )
        result = embed_texts_metered(
            user_id=document.owner_id, texts=[c["text"] for c in batch], document_id=document.pk
        )
        if collection is None:
            model, dimensions = result.model, result.dimensions
            if done and (model, dimensions) != (
                document.embedding_model,
                document.embedding_dimensions,
            ):
                # Resumed under another embedding model: start the vectors over.
                async_to_sync(store.delete_document)(str(document.pk))
                done = 0
                Document.objects.filter(pk=document.pk).update(chunks_indexed=0)
                continue
            collection = collection_name(model, dimensions)
            async_to_sync(store.ensure_collection)(collection, dimensions=dimensions)
            Document.objects.filter(pk=document.pk).update(
                embedding_model=model, embedding_dimensions=dimensions
            )
        points = [
            ChunkPoint(
                document_id=str(document.pk),
                owner_id=owner_id,
                chunk_index=c["chunk_index"],
                page=c["page"],
                text=c["text"],
                vector=vector,
            )
            for c, vector in zip(batch, result.vectors, strict=True)
        ]
        async_to_sync(store.upsert)(collection, points)
        done += len(batch)
        still_there = Document.objects.filter(pk=document.pk).update(
            chunks_indexed=done, updated_at=timezone.now()
        )
        if not still_there:
            # Deleted while we worked: take back what this run added after the delete.
            async_to_sync(store.delete_document)(str(document.pk))
            return None
        if progress:
            progress("embed", done, total)
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.READY,
        error="",
        processed_at=timezone.now(),
        ingest_attempts=0,
        updated_at=timezone.now(),
    )
    logger.info("document_ready", document_id=str(document.pk), chunks=total)
    return collection or collection_name(document.embedding_model, document.embedding_dimensions)


def documents_stalled(*, older_than_seconds: int | None = None) -> list[uuid.UUID]:
    """Documents left ``pending`` or ``processing`` (a crash, a lost task) for too long."""
    seconds = _stale_after_seconds() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return list(
        Document.objects.filter(
            Q(status=DocumentStatus.PROCESSING) | Q(status=DocumentStatus.PENDING),
            updated_at__lte=cutoff,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def documents_resume(*, older_than_seconds: int | None = None) -> list[uuid.UUID]:
    """Queue every stalled document again; it resumes from its last saved batch."""
    ids = documents_stalled(older_than_seconds=older_than_seconds)
    for document_id in ids:
        document_dispatch(document_id=document_id)
    return ids
