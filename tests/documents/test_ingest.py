"""Resuming interrupted ingestion, the attempt limit, and the management commands."""

import io
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ai.vectorstore import collection_name
from core.actor import Actor
from documents.dispatch import documents_sweep
from documents.models import Document, DocumentChunk, DocumentStatus
from documents.pipeline import document_ingest
from documents.services import document_create
from metering.models import UsageRecord
from tests.ai.factories import (  # noqa: F401
    edge_store_fixture,
    lorem_page,
    make_pdf,
    upload,
    vector_store_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _interrupted_document(user, settings, *, chunks_done: int) -> Document:
    """A document whose worker died after ``chunks_done`` chunks were embedded."""
    settings.CHUNK_TOKENS = 60
    settings.CHUNK_OVERLAP = 6
    settings.EMBED_BATCH_SIZE = 2
    pdf = make_pdf([lorem_page(n, 120) for n in range(1, 4)])
    document, _ = document_create(
        actor=Actor(user=user),
        uploaded_file=upload("r.pdf", pdf),
        title="Resumable",
        dispatch=False,
    )

    # Crash the embedding after a number of batches, as a killed worker would.
    from documents import pipeline

    calls = {"n": 0}
    real = pipeline.embed_texts_metered

    def dying(**kwargs):
        if calls["n"] * settings.EMBED_BATCH_SIZE >= chunks_done:
            raise SystemExit("worker killed")
        calls["n"] += 1
        return real(**kwargs)

    pipeline.embed_texts_metered = dying
    try:
        with pytest.raises(SystemExit):
            document_ingest(document_id=document.pk)
    finally:
        pipeline.embed_texts_metered = real
    document.refresh_from_db()
    return document


def test_interrupted_ingestion_resumes_from_the_last_saved_batch(user, vector_store, settings):
    document = _interrupted_document(user, settings, chunks_done=4)
    assert document.status == DocumentStatus.PROCESSING
    assert document.chunks > 4
    assert document.chunks_indexed == 4
    assert 0 < document.progress < 100
    calls_before = UsageRecord.objects.filter(document_id=document.pk).count()
    assert calls_before == 2

    # Fresh work (a live heartbeat) is left alone; one without a heartbeat for
    # INGEST_STALL_SECONDS lost its worker and is resumed.
    assert documents_sweep() == []
    Document.objects.filter(pk=document.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.INGEST_STALL_SECONDS + 1)
    )
    assert documents_sweep() == [document.pk]

    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert document.chunks_indexed == document.chunks
    # Only the missing chunks were embedded again.
    remaining = document.chunks - 4
    expected_calls = calls_before + -(-remaining // settings.EMBED_BATCH_SIZE)
    assert UsageRecord.objects.filter(document_id=document.pk).count() == expected_calls
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    count = async_to_sync(vector_store.count)(name, document_id=str(document.pk))
    assert count == document.chunks  # no duplicates from the re-run


def test_ingest_resume_command_finishes_stalled_documents(user, edge_store, settings):
    document = _interrupted_document(user, settings, chunks_done=2)
    out = io.StringIO()
    call_command("ingest", "--resume", stdout=out)
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert "Resuming" in out.getvalue()
    call_command("ingest", "--resume", stdout=(out := io.StringIO()))
    assert "Nothing to resume" in out.getvalue()


def test_a_document_that_keeps_crashing_is_failed_not_retried_forever(user, edge_store, settings):
    document = _interrupted_document(user, settings, chunks_done=0)
    Document.objects.filter(pk=document.pk).update(
        ingest_attempts=settings.INGEST_MAX_ATTEMPTS,
        updated_at=timezone.now() - timedelta(seconds=settings.INGEST_STALL_SECONDS + 1),
    )
    assert documents_sweep() == [document.pk]
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert "interrupted" in document.error


def test_ingest_command_loads_files_for_a_user(user, edge_store, tmp_path):
    pdf = tmp_path / "guide.pdf"
    pdf.write_bytes(make_pdf(["Chapter one", "Chapter two"]))
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nSome markdown.\n")
    out = io.StringIO()
    call_command("ingest", str(pdf), str(notes), "--user", user.email, stdout=out)
    documents = {d.title: d for d in Document.objects.filter(owner=user)}
    assert set(documents) == {"guide", "notes"}
    assert all(d.status == DocumentStatus.READY for d in documents.values())
    assert documents["guide"].pages == 2
    assert documents["notes"].file_type == "markdown"
    assert "ready" in out.getvalue()
    # Running it again finds the same bytes and adds nothing.
    call_command("ingest", str(pdf), "--user", user.email, stdout=(out := io.StringIO()))
    assert "already uploaded" in out.getvalue()
    assert Document.objects.filter(owner=user).count() == 2


def test_ingest_command_walks_a_folder_recursively_with_a_summary(user, edge_store, tmp_path):
    root = tmp_path / "handbook"
    (root / "part-1" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "intro.md").write_text("# Intro\n\nWelcome.\n")
    (root / "part-1" / "guide.pdf").write_bytes(make_pdf(["Chapter one", "Chapter two"]))
    (root / "part-1" / "deep" / "notes.txt").write_text("Deep notes about the harbour.\n")
    (root / "part-1" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document: skipped
    (root / ".git" / "HEAD.md").write_text("hidden: skipped")
    broken = root / "part-1" / "broken.pdf"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)  # a .pdf that is not one: fails
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("ingest", str(root), "--user", user.email, stdout=out, stderr=err)
    titles = {d.title: d.status for d in Document.objects.filter(owner=user)}
    assert titles == {
        "intro": DocumentStatus.READY,
        "guide": DocumentStatus.READY,
        "notes": DocumentStatus.READY,
    }
    printed = out.getvalue()
    # One progress line per file, numbered, then the summary.
    assert "[1/4]" in printed + err.getvalue() and "[4/4]" in printed + err.getvalue()
    assert "Summary: 4 file(s): 3 ingested, 0 already uploaded, 1 failed." in printed
    assert "broken.pdf" in err.getvalue()

    # Again: everything readable is already there.
    broken.unlink()
    call_command("ingest", str(root), "--user", user.email, stdout=(out := io.StringIO()))
    assert "Summary: 3 file(s): 0 ingested, 3 already uploaded, 0 failed." in out.getvalue()


def test_ingest_command_reports_bad_input(user, edge_store, tmp_path):
    png = tmp_path / "img.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(CommandError, match="1 file"):
        call_command("ingest", str(png), "--user", user.email, stderr=io.StringIO())
    with pytest.raises(CommandError, match="No user"):
        call_command("ingest", str(png), "--user", "nobody@example.com")
    assert not Document.objects.exists()


def test_reindex_command(user, edge_store, settings):
    document, _ = document_create(
        actor=Actor(user=user), uploaded_file=upload("a.txt", b"alpha beta gamma")
    )
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.FAILED, error="old")
    out = io.StringIO()
    call_command("reindex", "--document", str(document.pk), stdout=out)
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert "Reindexed 1 document(s), 0 failed." in out.getvalue()
    call_command("reindex", "--all", stdout=(out := io.StringIO()))
    assert "Reindexed 1 document(s)" in out.getvalue()
    assert DocumentChunk.objects.filter(document=document).count() == document.chunks
    with pytest.raises(CommandError):
        call_command("reindex", "--document", "00000000-0000-0000-0000-000000000000")


def test_qdrant_init_creates_the_collection_idempotently(edge_store, settings):
    out = io.StringIO()
    call_command("qdrant_init", stdout=out)
    call_command("qdrant_init", stdout=out)
    names = async_to_sync(edge_store.list_collections)()
    assert names == [collection_name("offline-hashed", settings.OFFLINE_EMBEDDING_DIMENSIONS)]
    assert "ready" in out.getvalue()


def test_worker_start_resumes_stalled_documents(user, edge_store, settings):
    from documents.tasks import _sweep_on_worker_start

    document = _interrupted_document(user, settings, chunks_done=2)
    Document.objects.filter(pk=document.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.INGEST_STALL_SECONDS + 1)
    )
    _sweep_on_worker_start()
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert document.chunks_indexed == document.chunks
