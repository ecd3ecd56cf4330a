"""Ingestion out of the request: bounded per document, fair per user, resumed after a crash."""

import io
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError, connection
from django.utils import timezone

from ai.vectorstore import collection_name
from core.actor import Actor
from documents import pipeline
from documents.dispatch import documents_sweep
from documents.models import Document, DocumentChunk, DocumentStatus
from documents.pipeline import document_claim_next
from documents.runner import embedded_ingest_worker
from documents.services import document_create
from tests.ai.factories import (  # noqa: F401
    edge_store_fixture,
    lorem_page,
    make_pdf,
    upload,
    vector_store_fixture,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/documents"


def shared_stream_pdf(*, pages: int, stream_bytes: int) -> bytes:
    """The issue's file: every page's /Contents is the same flate-compressed text stream, so a
    small file asks the text extractor to parse ``pages x stream_bytes`` bytes."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    line = b"BT /F1 9 Tf 20 780 Td (" + b"lorem ipsum dolor sit amet " * 3 + b") Tj ET\n"
    raw = DecodedStreamObject()
    raw.set_data(line * (stream_bytes // len(line)))
    contents = writer._add_object(raw.flate_encode())
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Contents")] = contents
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _create(user, name: str, data: bytes) -> Document:
    document, _ = document_create(
        actor=Actor(user=user), uploaded_file=upload(name, data), dispatch=False
    )
    return document


def _wait_for(predicate, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


# --- bounds sized from the file --------------------------------------------------------------


def test_pages_sharing_one_huge_content_stream_are_refused_before_parsing(
    user, edge_store, monkeypatch
):
    data = shared_stream_pdf(pages=20, stream_bytes=4_950_000)
    assert len(data) < 64 * 1024  # a small file...
    parsed: list[int] = []
    from pypdf import PageObject

    original = PageObject.extract_text

    def counting(self, *args, **kwargs):
        parsed.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", counting)
    document = _create(user, "bomb.pdf", data)
    pipeline.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert "drawing instructions" in document.error
    assert "malformed" in document.error
    assert parsed == []  # ...refused before its first page was parsed
    assert document.chunks == 0
    assert not DocumentChunk.objects.filter(document=document).exists()


def test_reused_content_within_the_budget_is_read(user, edge_store):
    # Reuse itself is legal PDF: only the amount of parsing a file this small asks for is not.
    document = _create(user, "ok.pdf", shared_stream_pdf(pages=3, stream_bytes=60_000))
    pipeline.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    assert document.pages == 3


def test_text_per_page_is_bounded(user, edge_store, settings):
    settings.DOCUMENT_MAX_PAGE_CHARS = 300
    document = _create(user, "dense.pdf", make_pdf(["short page", lorem_page(2, 200)]))
    pipeline.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.error.startswith("Page 2 has ")
    assert "at most 300" in document.error


def test_chunks_per_document_are_bounded(user, edge_store, settings):
    settings.CHUNK_TOKENS = 40
    settings.CHUNK_OVERLAP = 4
    settings.DOCUMENT_MAX_CHUNKS = 5
    document = _create(user, "long.pdf", make_pdf([lorem_page(n, 150) for n in range(1, 4)]))
    pipeline.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert "the limit is 5 per document" in document.error
    assert not DocumentChunk.objects.filter(document=document).exists()


def test_cpu_time_is_bounded(user, edge_store, settings):
    settings.INGEST_CPU_SECONDS_PER_MB = 0  # no CPU time at all for this file
    document = _create(user, "any.pdf", make_pdf(["one page"]))
    pipeline.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert "CPU time" in document.error


# --- out of the request (embedded: the server's ingestion thread) -----------------------------


@pytest.fixture
def ingest_thread(settings, edge_store, monkeypatch):
    """The embedded runner, held at ``gate`` before it touches the database (the test
    database is SQLite shared-cache memory, where concurrent writers fail instead of waiting),
    recording the order in which it claims documents."""
    settings.INGEST_RUNNER = "thread"
    gate = threading.Event()
    order: list[str] = []
    real = pipeline.document_ingest_next

    def gated():
        gate.wait(20)
        document_id = real()
        if document_id is not None:
            order.append(str(document_id))
        return document_id

    monkeypatch.setattr(pipeline, "document_ingest_next", gated)
    if connection.vendor == "sqlite":
        # In shared-cache memory a reader's table lock makes the thread's writes fail at once
        # ("database table is locked"); the test's polling reads must take none.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")
    yield gate, order
    gate.set()
    embedded_ingest_worker().stop()


def _status(document_id) -> str:
    try:
        return Document.objects.get(pk=document_id).status
    except OperationalError:  # the ingestion thread is writing (shared-cache SQLite)
        return ""


def test_upload_answers_202_before_ingestion_finishes_in_embedded_mode(user_client, ingest_thread):
    gate, _ = ingest_thread
    response = user_client.post(
        URL, {"file": upload("a.txt", b"words to embed later")}, format="multipart"
    )
    assert response.status_code == 202
    # The pipeline is still held: the request did not wait for it.
    assert _status(response.json()["id"]) == DocumentStatus.PENDING
    gate.set()
    _wait_for(lambda: _status(response.json()["id"]) == DocumentStatus.READY)


def test_one_users_backlog_does_not_starve_another_user(api_client, ingest_thread):
    from accounts.tokens import issue_tokens

    gate, order = ingest_thread
    busy, other = UserFactory(), UserFactory()
    uploaded: dict[str, list[str]] = {"busy": [], "other": []}
    for who, user, count in (("busy", busy, 4), ("other", other, 1)):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
        for n in range(count):
            response = api_client.post(
                URL,
                {"file": upload(f"{who}{n}.txt", f"{who} document {n}".encode())},
                format="multipart",
            )
            assert response.status_code == 202
            uploaded[who].append(response.json()["id"])
    gate.set()
    _wait_for(lambda: len(order) == 5)
    # The other user's only upload comes second, not after the busy user's whole backlog.
    assert order == [uploaded["busy"][0], uploaded["other"][0], *uploaded["busy"][1:]]
    _wait_for(lambda: all(_status(pk) == DocumentStatus.READY for pk in order))


def test_the_fair_queue_serves_users_round_robin(user):
    busy, other = user, UserFactory()
    mine = [_create(busy, f"b{n}.txt", f"busy {n}".encode()) for n in range(3)]
    theirs = [_create(other, f"o{n}.txt", f"other {n}".encode()) for n in range(2)]
    claimed = []
    while (document_id := document_claim_next()) is not None:
        claimed.append(document_id)
        Document.objects.filter(pk=document_id).update(status=DocumentStatus.READY)
    assert claimed == [
        mine[0].pk,
        theirs[0].pk,
        mine[1].pk,
        theirs[1].pk,
        mine[2].pk,
    ]


def test_a_user_with_a_document_in_progress_waits_behind_users_without(user):
    busy, other = user, UserFactory()
    first = _create(busy, "b0.txt", b"busy 0")
    second = _create(busy, "b1.txt", b"busy 1")
    assert document_claim_next() == first.pk  # still processing (another worker)
    late = _create(other, "o0.txt", b"other 0")
    assert document_claim_next() == late.pk
    assert document_claim_next() == second.pk
    assert document_claim_next() is None


# --- crash recovery and idempotency ------------------------------------------------------------


def _stale(document: Document, settings) -> None:
    Document.objects.filter(pk=document.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.INGEST_STALL_SECONDS + 1)
    )


def test_sweep_requeues_only_documents_without_a_heartbeat(user, edge_store, settings):
    dead = _create(user, "dead.txt", b"dead worker")
    alive = _create(user, "alive.txt", b"live worker")
    Document.objects.filter(pk__in=[dead.pk, alive.pk]).update(status=DocumentStatus.PROCESSING)
    _stale(dead, settings)
    settings.INGEST_RUNNER = "celery"  # only queue: see what the sweep hands to the workers
    sent = []
    from documents import tasks

    original = tasks.document_ingest_task.delay
    tasks.document_ingest_task.delay = lambda *a, **k: sent.append(1)
    try:
        assert documents_sweep() == [dead.pk]
    finally:
        tasks.document_ingest_task.delay = original
    assert sent == [1]  # one ticket for the one requeued document
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == DocumentStatus.PENDING
    assert alive.status == DocumentStatus.PROCESSING


def test_the_heartbeat_keeps_a_slow_ingestion_from_being_taken_over(
    user, edge_store, settings, monkeypatch
):
    settings.INGEST_HEARTBEAT_SECONDS = 1
    document = _create(user, "slow.txt", b"slow embedding")
    claimed_at = timezone.now()
    beaten = threading.Event()
    real = pipeline.embed_texts_metered

    def slow(**kwargs):
        # Wait (bounded) until the heartbeat thread has touched the row during this call.
        _wait_for(
            lambda: (
                Document.objects.get(pk=document.pk).updated_at
                > claimed_at + timedelta(seconds=0.5)
            ),
            seconds=20,
        )
        beaten.set()
        return real(**kwargs)

    monkeypatch.setattr(pipeline, "embed_texts_metered", slow)
    pipeline.document_ingest(document_id=document.pk)
    assert beaten.is_set()
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY


def test_rerunning_a_document_replaces_its_chunks_and_points(user, vector_store, settings):
    settings.CHUNK_TOKENS = 60
    settings.CHUNK_OVERLAP = 6
    settings.EMBED_BATCH_SIZE = 2
    document = _create(user, "twice.pdf", make_pdf([lorem_page(n, 120) for n in range(1, 4)]))
    pipeline.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    chunks = document.chunks
    name = collection_name(document.embedding_model, document.embedding_dimensions)

    # A worker killed after upserting batches but before saving its progress: the points are
    # there, chunks_indexed says fewer. The sweep resumes it; nothing is duplicated.
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, chunks_indexed=2
    )
    _stale(document, settings)
    assert documents_sweep() == [document.pk]
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert document.chunks == chunks
    assert async_to_sync(vector_store.count)(name, document_id=str(document.pk)) == chunks

    # Killed during extraction of a fresh run: no chunk rows yet; the re-run rebuilds both.
    DocumentChunk.objects.filter(document=document).delete()
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, chunks=0, chunks_indexed=0
    )
    _stale(document, settings)
    assert documents_sweep() == [document.pk]
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    rows = DocumentChunk.objects.filter(document=document)
    assert rows.count() == document.chunks == chunks
    assert sorted(rows.values_list("chunk_index", flat=True)) == list(range(chunks))
    assert async_to_sync(vector_store.count)(name, document_id=str(document.pk)) == chunks
