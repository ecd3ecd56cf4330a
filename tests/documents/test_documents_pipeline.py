"""The ingestion pipeline: pages, chunks, bad files, limits, delete and reindex, metering."""

import io
import zlib

import pytest
from asgiref.sync import async_to_sync
from django.core.files.storage import default_storage

from ai.vectorstore import collection_name
from documents.models import Document, DocumentChunk, DocumentStatus
from metering.models import UsageRecord
from tests.ai.factories import (  # noqa: F401
    edge_store_fixture,
    lorem_page,
    make_pdf,
    make_zero_page_pdf,
    upload,
    vector_store_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/documents"


def ingest(client, name: str, data: bytes) -> dict:
    response = client.post(URL, {"file": upload(name, data)}, format="multipart")
    assert response.status_code == 202, response.json()
    return client.get(f"{URL}/{response.json()['id']}").json()


def vectors_of(store, document: dict) -> int:
    name = collection_name(document["embedding_model"], 1536)
    return async_to_sync(store.count)(name, document_id=document["id"])


def test_chunks_carry_the_page_their_text_came_from(user_client, vector_store, settings):
    settings.CHUNK_TOKENS = 120
    settings.CHUNK_OVERLAP = 12
    pages = [f"{lorem_page(n)} marker-page-{n}-end" for n in range(1, 5)]
    document = ingest(user_client, "book.pdf", make_pdf(pages))
    assert document["status"] == "ready", document["error"]
    assert document["pages"] == 4
    rows = list(DocumentChunk.objects.filter(document_id=document["id"]).order_by("chunk_index"))
    assert document["chunks"] == len(rows) > 4  # several chunks per page
    for n in range(1, 5):
        holders = [r for r in rows if f"marker-page-{n}-end" in r.text]
        assert holders and all(r.page == n for r in holders)
    for row in rows:
        assert row.token_count <= 120
        assert row.char_end > row.char_start
    # The overlap repeats the end of one chunk at the start of the next on the same page.
    first, second = rows[0], rows[1]
    assert first.page == second.page
    assert second.char_start < first.char_end
    assert vectors_of(vector_store, document) == len(rows)


def test_text_file_pages_split_at_form_feeds(user_client, edge_store):
    document = ingest(user_client, "a.txt", b"first page words\fsecond page words")
    assert document["status"] == "ready"
    assert document["pages"] == 2
    pages = DocumentChunk.objects.filter(document_id=document["id"]).values_list("page", "text")
    assert sorted(pages) == [(1, "first page words"), (2, "second page words")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n this is not really a pdf \x00\xff garbage", "damaged"),
        (make_pdf(["secret"], encrypt_password="hunter2"), "encrypted"),
        (make_zero_page_pdf(), "no pages"),
        (make_pdf(["", ""]), "No text could be extracted"),
    ],
    ids=["corrupt", "encrypted", "zero-page", "no-text"],
)
def test_bad_pdfs_end_failed_with_a_plain_reason(user_client, edge_store, data, reason):
    response = user_client.post(URL, {"file": upload("x.pdf", data)}, format="multipart")
    assert response.status_code == 202
    document = user_client.get(f"{URL}/{response.json()['id']}").json()
    assert document["status"] == "failed"
    assert reason in document["error"]
    assert "Traceback" not in document["error"]


def test_decompression_bomb_page_fails_the_document_not_the_worker(user_client, edge_store):
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    stream = DecodedStreamObject()
    # ~80 MB of zeros in ~80 KB: over pypdf's zlib output limit.
    stream._data = zlib.compress(b"\0" * 80_000_000, 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    response = user_client.post(
        URL, {"file": upload("bomb.pdf", buffer.getvalue())}, format="multipart"
    )
    assert response.status_code == 202
    document = user_client.get(f"{URL}/{response.json()['id']}").json()
    # pypdf stops at its decompression limit; the page yields no text, and the document
    # fails with a sentence instead of exhausting memory.
    assert document["status"] == "failed"
    assert document["error"].endswith(".") and "Error" not in document["error"]


def test_time_limit_fails_the_document(user_client, edge_store, settings):
    settings.INGEST_TIME_LIMIT = 0
    document = ingest(user_client, "slow.pdf", make_pdf(["one", "two"]))
    assert document["status"] == "failed"
    assert "time limit" in document["error"]


def test_every_embedding_call_is_metered(user_client, user, edge_store, settings):
    settings.EMBED_BATCH_SIZE = 2
    document = ingest(user_client, "m.pdf", make_pdf([lorem_page(n) for n in range(5)]))
    records = UsageRecord.objects.filter(user=user, kind="embedding", document_id=document["id"])
    assert records.count() == 3  # 5 chunks in batches of 2
    assert all(r.total_tokens > 0 and r.model == document["embedding_model"] for r in records)


def test_delete_removes_file_rows_and_vectors(user_client, vector_store):
    document = ingest(user_client, "d.pdf", make_pdf(["kumquat orchard ledger"]))
    stored = Document.objects.get(pk=document["id"]).file.name
    assert vectors_of(vector_store, document) == 1
    hits = user_client.post("/api/v1/search", {"query": "kumquat"}).json()
    assert [h["document_id"] for h in hits] == [document["id"]]

    assert user_client.delete(f"{URL}/{document['id']}").status_code == 204
    assert not Document.objects.filter(pk=document["id"]).exists()
    assert not DocumentChunk.objects.filter(document_id=document["id"]).exists()
    assert not default_storage.exists(stored)
    assert vectors_of(vector_store, document) == 0
    assert user_client.post("/api/v1/search", {"query": "kumquat"}).json() == []
    assert user_client.get(f"{URL}/{document['id']}").status_code == 404


def test_reindex_runs_the_pipeline_again(user_client, edge_store, settings):
    document = ingest(user_client, "r.pdf", make_pdf([lorem_page(1, 400)]))
    before = document["chunks"]
    settings.CHUNK_TOKENS = 100
    settings.CHUNK_OVERLAP = 10
    response = user_client.post(f"{URL}/{document['id']}/reindex")
    assert response.status_code == 202
    after = user_client.get(f"{URL}/{document['id']}").json()
    assert after["status"] == "ready"
    assert after["chunks"] > before
    assert vectors_of(edge_store, after) == after["chunks"]


def test_reindex_of_a_document_being_processed_is_409(user_client, user, edge_store):
    document = Document.objects.create(
        owner=user,
        title="busy",
        file_type="text",
        sha256="c" * 64,
        status=DocumentStatus.PROCESSING,
    )
    response = user_client.post(f"{URL}/{document.pk}/reindex")
    assert response.status_code == 409
    assert response.json()["code"] == "DOCUMENT_BUSY"


def test_failed_document_can_be_reindexed_after_a_fix(user_client, edge_store, settings):
    settings.INGEST_TIME_LIMIT = 0
    document = ingest(user_client, "t.txt", b"temporary trouble")
    assert document["status"] == "failed"
    settings.INGEST_TIME_LIMIT = 600
    user_client.post(f"{URL}/{document['id']}/reindex")
    assert user_client.get(f"{URL}/{document['id']}").json()["status"] == "ready"
