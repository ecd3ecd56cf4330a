"""Both vector store backends behind one interface: isolation (organization, owner,
visibility, filtered server-side), payload updates, delete, hybrid ranking."""

import pytest
from asgiref.sync import async_to_sync

from ai.embeddings import hashed_embedding
from ai.vectorstore import ChunkPoint, SearchScope, collection_name
from tests.ai.factories import vector_store_fixture  # noqa: F401

DIM = 64


ORG = "org-1"


def point(
    document: str,
    owner: str,
    index: int,
    text: str,
    page: int = 1,
    *,
    organization: str = ORG,
    visibility: str = "private",
) -> ChunkPoint:
    return ChunkPoint(
        document_id=document,
        owner_id=owner,
        chunk_index=index,
        page=page,
        text=text,
        vector=hashed_embedding(text, DIM),
        organization_id=organization,
        visibility=visibility,
    )


def search(store, owner: str, query: str, *, organization: str = ORG, **kwargs):
    return async_to_sync(store.search)(
        "chunks_test_64",
        scope=SearchScope(organization_id=organization, owner_id=owner),
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


@pytest.fixture
def two_orgs(vector_store):
    """The same text in two organizations; in org-1 one private and one shared document."""
    run = async_to_sync
    run(vector_store.ensure_collection)("chunks_test_64", dimensions=DIM)
    text = "Quarterly revenue forecast KESTREL-4471 for the board."
    run(vector_store.upsert)(
        "chunks_test_64",
        [
            point("a-private", "1", 0, text, organization="org-a"),
            point("a-shared", "1", 0, text, organization="org-a", visibility="shared"),
            point("b-private", "2", 0, text, organization="org-b"),
            point("b-shared", "2", 0, text, organization="org-b", visibility="shared"),
        ],
    )
    return vector_store


def ids(hits) -> set[str]:
    return {h.document_id for h in hits}


def test_search_is_filtered_by_organization_and_visibility(two_orgs):
    # The owner finds both of theirs; another member of org-a only the shared one.
    assert ids(search(two_orgs, "1", "KESTREL-4471", organization="org-a")) == {
        "a-private",
        "a-shared",
    }
    assert ids(search(two_orgs, "3", "KESTREL-4471", organization="org-a")) == {"a-shared"}
    # Org-b sees its own documents only, whoever asks - even user 1 with org-b's id.
    assert ids(search(two_orgs, "1", "KESTREL-4471", organization="org-b")) == {"b-shared"}
    assert ids(search(two_orgs, "2", "KESTREL-4471", organization="org-b")) == {
        "b-private",
        "b-shared",
    }


def test_another_organization_id_finds_nothing_even_naming_the_documents(two_orgs):
    # The filter is applied by Qdrant: naming org-a's documents from org-c returns nothing,
    # though the query matches them exactly and a limit leaves room for them.
    hits = search(
        two_orgs,
        "1",
        "KESTREL-4471",
        organization="org-c",
        document_ids=["a-private", "a-shared"],
        limit=50,
    )
    assert hits == []


def test_update_document_payload_changes_who_finds_it(two_orgs):
    run = async_to_sync
    run(two_orgs.update_document_payload)(
        "a-private", {"organization_id": "org-a", "owner_id": "1", "visibility": "shared"}
    )
    assert ids(search(two_orgs, "3", "KESTREL-4471", organization="org-a")) == {
        "a-private",
        "a-shared",
    }
    run(two_orgs.update_document_payload)(
        "a-shared", {"organization_id": "org-a", "owner_id": "1", "visibility": "private"}
    )
    assert ids(search(two_orgs, "3", "KESTREL-4471", organization="org-a")) == {"a-private"}
    # Vectors and the other fields are untouched.
    assert ids(search(two_orgs, "1", "KESTREL-4471", organization="org-a")) == {
        "a-private",
        "a-shared",
    }


def test_points_without_organization_payload_are_found_after_their_payload_is_set(
    vector_store,
):
    # Points indexed before organizations existed carry no organization: no search finds
    # them until ``reindex_payloads`` writes it into their payload.
    run = async_to_sync
    run(vector_store.ensure_collection)("chunks_test_64", dimensions=DIM)
    legacy = point("legacy", "1", 0, "An old note about the lighthouse keeper.", organization="")
    run(vector_store.upsert)("chunks_test_64", [legacy])
    assert search(vector_store, "1", "lighthouse keeper") == []
    run(vector_store.update_document_payload)(
        "legacy", {"organization_id": ORG, "owner_id": "1", "visibility": "private"}
    )
    assert ids(search(vector_store, "1", "lighthouse keeper")) == {"legacy"}


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
        "chunks_nothing_8",
        scope=SearchScope(organization_id=ORG, owner_id="1"),
        dense_vector=[0.1] * 8,
        query_text="x",
        limit=3,
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
