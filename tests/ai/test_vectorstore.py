"""Both vector store backends behind one interface: isolation, delete, hybrid ranking."""

import pytest
from asgiref.sync import async_to_sync

from ai.embeddings import hashed_embedding
from ai.vectorstore import ChunkPoint, collection_name
from tests.ai.factories import vector_store_fixture  # noqa: F401

DIM = 64


def point(document: str, owner: str, index: int, text: str, page: int = 1) -> ChunkPoint:
    return ChunkPoint(
        document_id=document,
        owner_id=owner,
        chunk_index=index,
        page=page,
        text=text,
        vector=hashed_embedding(text, DIM),
    )


def search(store, owner: str, query: str, **kwargs):
    return async_to_sync(store.search)(
        "chunks_test_64",
        owner_id=owner,
        dense_vector=hashed_embedding(query, DIM),
        query_text=query,
        limit=kwargs.pop("limit", 5),
        **kwargs,
    )


@pytest.fixture
def loaded(vector_store):
    run = async_to_sync
    run(vector_store.ensure_collection)("chunks_test_64", dimensions=DIM)
    run(vector_store.ensure_collection)("chunks_test_64", dimensions=DIM)  # idempotent
    run(vector_store.upsert)(
        "chunks_test_64",
        [
            point("doc-a1", "1", 0, "The harbor master keeps the ledger of ships.", page=3),
            point("doc-a1", "1", 1, "Invoice number QX-88213 was paid in March.", page=4),
            point("doc-a2", "1", 0, "Meadow flowers bloom in spring."),
            point("doc-b1", "2", 0, "Invoice number QX-88213 belongs to somebody else."),
        ],
    )
    return vector_store


def test_collection_name_per_model_and_dimension(settings):
    assert collection_name("text-embedding-3-small", 1536) == "chunks_text-embedding-3-small_1536"
    assert collection_name("Text Embedding/3", 256) == "chunks_text-embedding-3_256"


def test_search_returns_only_the_owners_chunks(loaded):
    hits = search(loaded, "1", "QX-88213 invoice")
    assert hits
    assert {h.document_id for h in hits} <= {"doc-a1", "doc-a2"}
    assert hits[0].document_id == "doc-a1" and hits[0].page == 4
    other = search(loaded, "2", "QX-88213 invoice")
    assert {h.document_id for h in other} == {"doc-b1"}
    assert search(loaded, "3", "QX-88213 invoice") == []


def test_document_filter_cannot_reach_other_owners(loaded):
    # Asking for user 2's document as user 1 finds nothing: the owner filter always applies.
    assert search(loaded, "1", "QX-88213", document_ids=["doc-b1"]) == []
    hits = search(loaded, "1", "meadow", document_ids=["doc-a2"])
    assert [h.document_id for h in hits] == ["doc-a2"]


def test_rare_exact_token_is_found_by_bm25_even_when_dense_misses(loaded):
    # A dense threshold no chunk reaches leaves only the BM25 half of the hybrid search.
    hits = search(loaded, "1", "QX-88213", min_dense_score=0.99)
    assert [(h.document_id, h.chunk_index) for h in hits] == [("doc-a1", 1)]


def test_upsert_is_idempotent_per_chunk(loaded):
    async_to_sync(loaded.upsert)(
        "chunks_test_64", [point("doc-a2", "1", 0, "Meadow flowers bloom in spring.")]
    )
    assert async_to_sync(loaded.count)("chunks_test_64", document_id="doc-a2") == 1
    assert async_to_sync(loaded.count)("chunks_test_64") == 4


def test_delete_document_removes_all_its_points(loaded):
    async_to_sync(loaded.delete_document)("doc-a1")
    assert async_to_sync(loaded.count)("chunks_test_64", document_id="doc-a1") == 0
    assert async_to_sync(loaded.count)("chunks_test_64") == 2
    assert all(h.document_id != "doc-a1" for h in search(loaded, "1", "QX-88213 ledger"))


def test_missing_collection_is_empty_not_an_error(vector_store):
    assert async_to_sync(vector_store.count)("chunks_nothing_8") == 0
    hits = async_to_sync(vector_store.search)(
        "chunks_nothing_8", owner_id="1", dense_vector=[0.1] * 8, query_text="x", limit=3
    )
    assert hits == []


def test_collections_are_listed_and_health_reports_the_mode(loaded):
    assert "chunks_test_64" in async_to_sync(loaded.list_collections)()
    health = loaded.health()
    assert health["backend"] in ("edge", "client")


def test_edge_shard_survives_a_reopen(settings, tmp_path):
    from ai.vectorstore import get_vector_store, reset_vector_stores

    reset_vector_stores()
    settings.QDRANT_BACKEND = "edge"
    settings.QDRANT_PATH = tmp_path / "q"
    store = get_vector_store()
    async_to_sync(store.ensure_collection)("chunks_test_64", dimensions=DIM)
    async_to_sync(store.upsert)("chunks_test_64", [point("d", "1", 0, "persisted words")])
    assert store.optimize("chunks_test_64") in (True, False)
    reset_vector_stores()
    reopened = get_vector_store()
    assert reopened is not store
    assert [h.document_id for h in search(reopened, "1", "persisted")] == ["d"]
    reset_vector_stores()
