"""kill -9 of the Celery worker mid-ingest: the document is resumed to ``ready`` by the next
worker's sweep (beat inside it), from its last saved batch, with no duplicate chunk or point.

Real processes: ``celery -A config worker`` on PostgreSQL + Redis (pytest-django's test
database, handed to the child by URL), a fake OpenAI server that answers embeddings slowly.
"""

import math

import pytest
from asgiref.sync import async_to_sync
from celery import Celery
from django.conf import settings
from django.db import connection

from ai.vectorstore import collection_name, get_vector_store, reset_vector_stores
from documents.models import Document, DocumentChunk, DocumentStatus
from documents.services import document_create
from metering.models import UsageRecord
from tests.ai.factories import lorem_page, upload
from tests.factories import UserFactory
from tests.fakes import FakeOpenAI
from tests.multiprocess import _ingest_procs as procs

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

BATCH = 2


@pytest.fixture
def scaled():
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "needs the scaled mode: DATABASE_URL=postgres://... and REDIS_URL=redis://... "
            "(a Celery worker process cannot share SQLite's in-memory test database)"
        )


@pytest.fixture
def fake_embeddings():
    server = FakeOpenAI().start()
    server.embedding_delay = 0.3  # slow enough to kill the worker mid-document
    yield server
    server.stop()


def test_a_killed_worker_s_document_is_resumed_by_the_next_worker(
    scaled, fake_embeddings, tmp_path, settings
):
    user = UserFactory()
    text = "\n\n".join(lorem_page(n, 200) for n in range(1, 7)).encode()
    document, _ = document_create(
        owner=user, uploaded_file=upload("long.txt", text), dispatch=False
    )
    queue = procs.unique_queue()
    env = procs.child_env(
        DATA_DIR=str(tmp_path / "data"),
        CELERY_TASK_DEFAULT_QUEUE=queue,
        QDRANT_BACKEND="client",
        QDRANT_LOCATION=str(tmp_path / "qdrant"),
        AI_PROVIDER="openai",
        OPENAI_BASE_URL=fake_embeddings.base_url,
        OPENAI_API_KEY="test-key",
        OPENAI_EMBEDDING_MODEL="fake-embed",
        CHUNK_TOKENS="40",
        CHUNK_OVERLAP="4",
        EMBED_BATCH_SIZE=str(BATCH),
        INGEST_HEARTBEAT_SECONDS="1",
        INGEST_STALL_SECONDS="3",
        MAINTENANCE_INTERVAL="1",
    )

    def state() -> Document:
        return Document.objects.get(pk=document.pk)

    log_path = tmp_path / "workers.log"
    with open(log_path, "ab") as log:
        first = procs.start_worker(env, log)
        try:
            broker = Celery(broker=settings.REDIS_URL)
            broker.send_task("ai.document_ingest", queue=queue)  # what an upload queues
            procs.wait_for(
                lambda: (
                    state().status == DocumentStatus.PROCESSING
                    and state().chunks_indexed >= 2 * BATCH
                ),
                seconds=120,
                what="the first worker to be half-way",
            )
        finally:
            procs.kill_hard(first)
        killed = state()
        assert killed.status == DocumentStatus.PROCESSING  # left behind by the dead worker
        assert 0 < killed.chunks_indexed < killed.chunks

        second = procs.start_worker(env, log, beat_schedule=tmp_path / "beat-schedule")
        try:
            procs.wait_for(
                lambda: state().status in (DocumentStatus.READY, DocumentStatus.FAILED),
                seconds=150,
                what="the document to be resumed",
            )
        finally:
            procs.stop(second)
        broker.close()

    done = state()
    assert done.status == DocumentStatus.READY, (done.error, log_path.read_text()[-3000:])
    assert done.chunks_indexed == done.chunks
    rows = DocumentChunk.objects.filter(document=done)
    assert rows.count() == done.chunks
    # Resumed from its last saved batch: at most the one batch in flight was embedded twice.
    batches = math.ceil(done.chunks / BATCH)
    assert UsageRecord.objects.filter(document_id=done.pk).count() <= batches + 1
    # No duplicate points either (the workers are gone; the store's folder is free).
    settings.QDRANT_BACKEND = "client"
    settings.QDRANT_LOCATION = str(tmp_path / "qdrant")
    reset_vector_stores()
    try:
        name = collection_name(done.embedding_model, done.embedding_dimensions)
        count = async_to_sync(get_vector_store().count)(name, document_id=str(done.pk))
    finally:
        reset_vector_stores()
    assert count == done.chunks
