"""The ingestion pipeline, run in the background for every upload (never in the request).

extract per page (pypdf) -> chunk by tokens keeping page and offsets (saved as
``DocumentChunk`` rows) -> embed in batches through the provider -> upsert into Qdrant,
saving ``chunks_indexed`` after every batch so an interrupted run resumes where it stopped.

Where it runs (``INGEST_RUNNER``): a Celery worker per ticket (scaled mode), the server's
ingestion thread (embedded mode, ``documents.runner``), or the caller (tests, commands).
Every runner claims documents through the same fair queue (``document_claim_next``), keeps a
heartbeat on the document while it works, and bounds each document by limits sized from its
file. ``documents.dispatch`` hands work to the runners; its ``documents_sweep`` (periodic,
and at every worker/server start) queues again what a killed worker left ``processing``;
re-running a document replaces its chunks and points.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ai.metrics import AI_INGESTION_DURATION
from ai.providers import ProviderError
from ai.vectorstore import ChunkPoint, VectorStoreError, collection_name, get_vector_store
from core.tenancy import organization_scope, platform_code
from documents.chunking import chunk_pages
from documents.embedding import embed_texts_metered
from documents.extraction import (
    ExtractionError,
    ExtractionLimits,
    check_time,
    extract_pages,
)
from documents.models import Document, DocumentChunk, DocumentStatus, DocumentType

logger = structlog.get_logger(__name__)

ProgressCallback = Callable[[str, int, int], None]


def ingest_stall_seconds() -> int:
    """A document ``processing`` whose heartbeat is older than this lost its worker."""
    return int(settings.INGEST_STALL_SECONDS)


def _fail(document_id: uuid.UUID, reason: str) -> None:
    Document.objects.filter(pk=document_id).update(
        status=DocumentStatus.FAILED, error=reason[:2000], updated_at=timezone.now()
    )
    logger.info("document_failed", document_id=str(document_id), reason=reason)


def _claim(document_id: uuid.UUID | str, *, takeover: bool = False) -> bool:
    """Atomically make the document ``processing`` for this worker. Claimable: ``pending``, or
    ``processing`` without a heartbeat for ``INGEST_STALL_SECONDS`` (its worker died), or any
    ``processing`` one with ``takeover`` (``ingest --resume`` on the embedded store, which no
    other process can be using)."""
    now = timezone.now()
    claimable = Q(status=DocumentStatus.PENDING) | Q(status=DocumentStatus.PROCESSING)
    if not takeover:
        claimable = Q(status=DocumentStatus.PENDING) | Q(
            status=DocumentStatus.PROCESSING,
            updated_at__lt=now - timedelta(seconds=ingest_stall_seconds()),
        )
    return bool(
        Document.objects.filter(claimable, pk=document_id).update(
            status=DocumentStatus.PROCESSING,
            ingest_attempts=F("ingest_attempts") + 1,
            ingest_started_at=now,
            error="",
            updated_at=now,
        )
    )


def _fair_pending() -> Any:
    """Pending documents, fairest first: owners with fewer documents being processed, then
    owners served longest ago (never served first), then oldest upload. Round-robin between
    users, so one user's hundred uploads do not hold back another user's one."""
    busy = (
        Document.objects.filter(owner=OuterRef("owner"), status=DocumentStatus.PROCESSING)
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    served = (
        Document.objects.filter(owner=OuterRef("owner"), ingest_started_at__isnull=False)
        .order_by("-ingest_started_at")
        .values("ingest_started_at")[:1]
    )
    return (
        Document.objects.filter(status=DocumentStatus.PENDING)
        .annotate(owner_busy=Coalesce(Subquery(busy), 0), owner_served=Subquery(served))
        .order_by("owner_busy", F("owner_served").asc(nulls_first=True), "created_at", "pk")
    )


@platform_code
def document_claim_next() -> uuid.UUID | None:
    """Claim the fairest pending document for this worker, or None when none is left.
    Workers racing for the same row: one conditional UPDATE wins, the others take the next."""
    for _ in range(5):
        candidates = list(_fair_pending().values_list("pk", flat=True)[:8])
        if not candidates:
            return None
        for document_id in candidates:
            if _claim(document_id):
                return document_id
    return None


@platform_code
def document_ingest_next() -> uuid.UUID | None:
    """Claim the fairest pending document and run the pipeline on it (what a background
    worker does with each ticket). Returns the document's id, or None when nothing waited."""
    document_id = document_claim_next()
    if document_id is not None:
        _ingest_claimed(document_id, progress=None, optimize=True)
    return document_id


@platform_code
def document_ingest(
    *,
    document_id: uuid.UUID | str,
    progress: ProgressCallback | None = None,
    takeover: bool = False,
    optimize: bool = False,
) -> str | None:
    """Run (or resume) the pipeline for one document. Never raises for a bad file: the
    document ends ``ready`` or ``failed`` with a plain reason. Returns the collection the
    vectors went to, or None when nothing was indexed (also when another worker has it)."""
    if not _claim(document_id, takeover=takeover):
        return None  # deleted, finished, or alive on another worker
    return _ingest_claimed(document_id, progress=progress, optimize=optimize)


@contextmanager
def _heartbeat(document_id: uuid.UUID) -> Iterator[None]:
    """Touch the document every ``INGEST_HEARTBEAT_SECONDS`` while this process works on it,
    so a sweep can tell a slow ingestion (an embedding call waiting on its timeout) from one
    whose worker was killed, within ``INGEST_STALL_SECONDS`` instead of the time limit."""
    stop = threading.Event()
    interval = max(1, int(settings.INGEST_HEARTBEAT_SECONDS))

    @platform_code
    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    Document.objects.filter(
                        pk=document_id, status=DocumentStatus.PROCESSING
                    ).update(updated_at=timezone.now())
                except DatabaseError:
                    # Keep beating: a missed beat or two must not hand live work to a sweep.
                    logger.warning("document_heartbeat_failed", document_id=str(document_id))
                    connections.close_all()
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name="ingest-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 30)


def _ingest_claimed(
    document_id: uuid.UUID | str, *, progress: ProgressCallback | None, optimize: bool
) -> str | None:
    # Claimed in the platform scope (the fair queue spans organizations); the work on the
    # document runs in its own organization, like any task restoring its kwargs.
    organization_id = (
        Document.all_organizations.filter(pk=document_id)
        .values_list("organization_id", flat=True)
        .first()
    )
    if organization_id is None:
        return None  # deleted right after the claim
    with organization_scope(organization_id):
        return _ingest_in_organization(document_id, progress=progress, optimize=optimize)


def _ingest_in_organization(
    document_id: uuid.UUID | str, *, progress: ProgressCallback | None, optimize: bool
) -> str | None:
    document = Document.objects.select_related("owner").filter(pk=document_id).first()
    if document is None:
        return None  # deleted right after the claim
    if document.ingest_attempts > settings.INGEST_MAX_ATTEMPTS:
        _fail(
            document.pk,
            f"Processing was interrupted {settings.INGEST_MAX_ATTEMPTS} times; giving up. "
            "Reindex to try again.",
        )
        return None
    started = time.monotonic()
    limits = _limits_for(document, started=started)
    collection: str | None = None
    try:
        with _heartbeat(document.pk):
            collection = _run_pipeline(document, limits=limits, progress=progress)
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
    if collection and optimize:
        collection_optimize(collection)
    return collection


def _limits_for(document: Document, *, started: float) -> ExtractionLimits:
    """The document's budget, sized from its file: a PDF's parsed page content and text may be
    ``DOCUMENT_EXPANSION_RATIO`` times max(size, 128 KB); CPU time
    ``INGEST_CPU_SECONDS_PER_MB`` per MB (at least one MB), within ``INGEST_TIME_LIMIT``."""
    size = int(document.size_bytes)
    expansion = int(settings.DOCUMENT_EXPANSION_RATIO) * max(size, 128 * 1024)
    max_chars = int(settings.DOCUMENT_MAX_TEXT_CHARS)
    if document.file_type == DocumentType.PDF:
        max_chars = min(max_chars, expansion)
    time_limit = int(settings.INGEST_TIME_LIMIT)
    cpu_seconds = min(
        time_limit, int(settings.INGEST_CPU_SECONDS_PER_MB) * max(1.0, size / (1024 * 1024))
    )
    return ExtractionLimits(
        max_pages=int(settings.DOCUMENT_MAX_PAGES),
        max_chars=max_chars,
        max_page_chars=int(settings.DOCUMENT_MAX_PAGE_CHARS),
        max_content_bytes=expansion,
        deadline=started + time_limit,
        cpu_deadline=time.thread_time() + cpu_seconds,
    )


def _ingest_observe(document_id: uuid.UUID, started: float) -> None:
    status = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
    AI_INGESTION_DURATION.labels(outcome=status or "deleted").observe(time.monotonic() - started)


def _extract_and_chunk(
    document: Document, *, limits: ExtractionLimits, progress: ProgressCallback | None
) -> None:
    """First phase: text and chunk rows. Skipped on resume when the rows already exist."""
    with document.file.open("rb") as handle:
        data = handle.read(int(settings.DOCUMENT_MAX_UPLOAD_BYTES) + 1)
    if len(data) > settings.DOCUMENT_MAX_UPLOAD_BYTES:
        raise ExtractionError("The file is larger than the upload limit.")
    pages = extract_pages(
        data,
        document.file_type,
        limits=limits,
        on_page=(lambda done, total: progress("extract", done, total)) if progress else None,
    )
    specs = chunk_pages(
        pages, chunk_tokens=int(settings.CHUNK_TOKENS), overlap=int(settings.CHUNK_OVERLAP)
    )
    check_time(limits)
    if len(specs) > settings.DOCUMENT_MAX_CHUNKS:
        raise ExtractionError(
            f"The document would make {len(specs):,} chunks; the limit is "
            f"{settings.DOCUMENT_MAX_CHUNKS:,} per document. Split it into smaller files."
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


def _current_visibility(document_id: uuid.UUID) -> str:
    value = Document.objects.filter(pk=document_id).values_list("visibility", flat=True).first()
    return str(value or "private")


def _run_pipeline(
    document: Document, *, limits: ExtractionLimits, progress: ProgressCallback | None
) -> str | None:
    store = get_vector_store()
    rows = DocumentChunk.objects.filter(document=document)
    if document.chunks == 0 or rows.count() != document.chunks:
        _extract_and_chunk(document, limits=limits, progress=progress)
        # A fresh run: vectors of an earlier run (other chunking, other model) must go.
        async_to_sync(store.delete_document)(str(document.pk))
    total = document.chunks
    done = document.chunks_indexed
    batch_size = max(1, int(settings.EMBED_BATCH_SIZE))
    owner_id = str(document.owner_id)
    organization_id = str(document.organization_id)
    collection: str | None = None
    visibilities: set[str] = set()
    if progress:
        progress("embed", done, total)
    while done < total:
        check_time(limits)
        batch = list(
            rows.filter(chunk_index__gte=done)
            .order_by("chunk_index")
            .values("chunk_index", "page", "text")[:batch_size]
        )
        result = embed_texts_metered(
            user_id=document.owner_id,
            organization_id=document.organization_id,
            texts=[c["text"] for c in batch],
            document_id=document.pk,
        )
        # Read per batch: the owner may share the document (or make it private) meanwhile.
        visibility = _current_visibility(document.pk)
        visibilities.add(visibility)
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
                organization_id=organization_id,
                visibility=visibility,
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
    if visibilities and visibilities != {_current_visibility(document.pk)}:
        # Changed while the batches went in: every point gets the visibility of now.
        async_to_sync(store.update_document_payload)(
            str(document.pk),
            {
                "organization_id": organization_id,
                "owner_id": owner_id,
                "visibility": _current_visibility(document.pk),
            },
        )
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.READY,
        error="",
        processed_at=timezone.now(),
        ingest_attempts=0,
        updated_at=timezone.now(),
    )
    logger.info("document_ready", document_id=str(document.pk), chunks=total)
    return collection or collection_name(document.embedding_model, document.embedding_dimensions)


@platform_code
def documents_stalled(*, older_than_seconds: int | None = None) -> list[uuid.UUID]:
    """Documents left ``pending`` or ``processing`` (a crash, a lost task) for too long."""
    seconds = ingest_stall_seconds() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return list(
        Document.objects.filter(
            Q(status=DocumentStatus.PROCESSING) | Q(status=DocumentStatus.PENDING),
            updated_at__lte=cutoff,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def collection_optimize(collection: str) -> None:
    """Run the segment optimizer after bulk ingestion, never inside a request: on a Celery
    worker it runs here; in the server process (embedded mode) on a background thread of the
    store, so searches are not held up."""
    store = get_vector_store()
    try:
        if settings.INGEST_RUNNER != "celery" and hasattr(store, "optimize_in_background"):
            store.optimize_in_background(collection)
        else:
            store.optimize(collection)
    except Exception:
        logger.exception("vector_store_optimize_failed", collection=collection)
