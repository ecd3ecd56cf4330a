"""POST /api/v1/search: hybrid search over the caller's own ready documents."""

import pytest

from documents.models import Document, DocumentStatus
from documents.search import search_chunks
from metering.models import UsageRecord
from tests.ai.factories import (
    lorem_page,
    make_pdf,
    upload,
    vector_store_fixture,  # noqa: F401
)
from tests.conftest import _bearer_client
from tests.documents.tenancy import actor_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "/api/v1/search"


def ingest(client, name: str, data: bytes) -> str:
    response = client.post("/api/v1/documents", {"file": upload(name, data)}, format="multipart")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


@pytest.fixture
def alice_doc(user_client, vector_store):
    pages = [lorem_page(n) for n in range(1, 7)]
    pages[3] += " The vault access code is ZEPHYR-77Q1 for the north gate."
    return ingest(user_client, "handbook.pdf", make_pdf(pages))


def test_exact_rare_token_is_found_with_its_page(user_client, alice_doc):
    response = user_client.post(SEARCH, {"query": "ZEPHYR-77Q1", "top_k": 3})
    assert response.status_code == 200
    hits = response.json()
    assert hits, "the rare token must be found"
    top = hits[0]
    assert top["document_id"] == alice_doc
    assert top["page"] == 4
    assert "ZEPHYR-77Q1" in top["text"]
    assert top["title"] == "handbook"
    assert set(top) == {"document_id", "title", "page", "score", "text"}
    assert top["score"] > 0


def test_results_respect_top_k_and_document_ids(user_client, user, alice_doc):
    other = ingest(user_client, "other.txt", b"ledger invoice harbor meadow notes")
    hits = user_client.post(SEARCH, {"query": "ledger invoice", "top_k": 2}).json()
    assert len(hits) <= 2
    only = user_client.post(SEARCH, {"query": "ledger invoice", "document_ids": [other]}).json()
    assert only and {h["document_id"] for h in only} == {other}


def test_user_b_never_sees_user_a_chunks(user_client, alice_doc):
    bob = UserFactory()
    bob_client = _bearer_client(bob)
    ingest(bob_client, "bob.txt", b"Bob's own harmless notes about gardening.")
    for payload in (
        {"query": "ZEPHYR-77Q1"},
        {"query": "ZEPHYR-77Q1", "document_ids": [alice_doc]},
        {"query": "ledger invoice harbor", "top_k": 50},
    ):
        hits = bob_client.post(SEARCH, payload).json()
        assert all(h["document_id"] != alice_doc for h in hits), payload
        assert all("ZEPHYR" not in h["text"] for h in hits)
    # The service the chat uses, with Alice's document id passed explicitly.
    assert (
        search_chunks(actor=actor_in(bob), query="ZEPHYR-77Q1", top_k=10, document_ids=[alice_doc])
        == []
    )
    direct = search_chunks(actor=actor_in(bob), query="ZEPHYR-77Q1", top_k=50, document_ids=None)
    assert all(h["document_id"] != alice_doc for h in direct)
    assert bob_client.get(f"/api/v1/documents/{alice_doc}").status_code == 404
    listed = bob_client.get("/api/v1/documents").json()["results"]
    assert alice_doc not in {d["id"] for d in listed}


def test_documents_not_ready_are_not_searched(user_client, user, alice_doc):
    Document.objects.filter(pk=alice_doc).update(status=DocumentStatus.PROCESSING)
    assert user_client.post(SEARCH, {"query": "ZEPHYR-77Q1"}).json() == []


def test_viewer_may_search_own_documents(viewer_client, viewer_user, vector_store):
    response = viewer_client.post(SEARCH, {"query": "anything"})
    assert response.status_code == 200
    assert response.json() == []


def test_search_meters_the_query_embedding(user_client, user, alice_doc):
    before = UsageRecord.objects.filter(user=user, kind="embedding", document_id=None).count()
    user_client.post(SEARCH, {"query": "vault code"})
    after = UsageRecord.objects.filter(user=user, kind="embedding", document_id=None).count()
    assert after == before + 1


def test_user_without_documents_pays_nothing(user_client, user, vector_store):
    assert user_client.post(SEARCH, {"query": "hello"}).json() == []
    assert not UsageRecord.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"query": "   "},
        {"query": "x" * 2001},
        {"query": "ok", "top_k": 0},
        {"query": "ok", "top_k": 51},
        {"query": "ok", "document_ids": ["not-a-uuid"]},
    ],
)
def test_invalid_search_is_400_in_the_envelope(user_client, vector_store, payload):
    response = user_client.post(SEARCH, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_search_requires_authentication(api_client, vector_store):
    assert api_client.post(SEARCH, {"query": "x"}, format="json").status_code == 401
