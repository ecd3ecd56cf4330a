"""Documents in organizations: private and shared visibility, who may change them, search and
retrieval isolated by organization (filtered in Qdrant and checked again in the database),
the organization's caps, and the vector payload following every change."""

import io

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ai.embeddings import hashed_embedding
from ai.vectorstore import ChunkPoint, SearchScope, collection_name
from documents.models import Document
from documents.retrieval import retrieve_for_chat
from documents.search import search_chunks
from tests.ai.factories import (
    edge_store_fixture,  # noqa: F401
    upload,
    vector_store_fixture,  # noqa: F401
)
from tests.documents.tenancy import actor_in, client_in, member, organization_with

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/documents"
SEARCH = "/api/v1/search"
TEXT = b"The launch code for project HERON-5512 is kept in the blue binder."


def _upload(client, name: str, data: bytes = TEXT, **extra) -> dict:
    response = client.post(URL, {"file": upload(name, data), **extra}, format="multipart")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert client.get(f"{URL}/{body['id']}").json()["status"] == "ready"
    return body


def _search_ids(client, query: str = "HERON-5512", **extra) -> set[str]:
    response = client.post(SEARCH, {"query": query, "top_k": 20, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return {hit["document_id"] for hit in response.json()}


def _listed_ids(client) -> set[str]:
    response = client.get(URL)
    assert response.status_code == 200, response.json()
    return {d["id"] for d in response.json()["results"]}


@pytest.fixture
def acme(db):
    """Organization ACME: an owner, an admin, two members and a viewer."""
    organization = organization_with("Acme")
    people = {
        role: member(organization, role=role.split("-")[0])
        for role in ("owner", "admin", "member", "member-2", "viewer")
    }
    return organization, people


@pytest.fixture
def globex(db):
    organization = organization_with("Globex")
    return organization, {"owner": member(organization, role="owner")}


def test_private_is_the_owners_and_shared_is_every_members(acme, globex, vector_store):
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    alice_client, bob_client = client_in(alice, org), client_in(bob, org)
    private = _upload(alice_client, "private.txt")
    assert private["visibility"] == "private"
    shared = _upload(
        alice_client, "shared.txt", TEXT + b" Shared with the team.", visibility="shared"
    )
    assert shared["visibility"] == "shared"

    # Alice reads both; Bob only the shared one, in lists, details, search and retrieval.
    assert _listed_ids(alice_client) == {private["id"], shared["id"]}
    assert _listed_ids(bob_client) == {shared["id"]}
    assert bob_client.get(f"{URL}/{private['id']}").status_code == 404
    assert bob_client.get(f"{URL}/{shared['id']}").status_code == 200
    assert _search_ids(alice_client) == {private["id"], shared["id"]}
    assert _search_ids(bob_client) == {shared["id"]}
    # Naming the private document does not reach it either.
    assert _search_ids(bob_client, document_ids=[private["id"]]) == set()
    passages = retrieve_for_chat(actor=actor_in(bob, org), query="HERON-5512 launch code")
    assert {p["document_id"] for p in passages} == {shared["id"]}

    # The same user acting in another organization sees nothing of Acme's.
    globex_org, _ = globex
    member(globex_org, user=bob)
    bob_in_globex = client_in(bob, globex_org)
    assert _listed_ids(bob_in_globex) == set()
    assert _search_ids(bob_in_globex) == set()
    assert bob_in_globex.get(f"{URL}/{shared['id']}").status_code == 404
    assert retrieve_for_chat(actor=actor_in(bob, globex_org), query="HERON-5512") == []
    # A user of no Acme membership names Acme: 404, never a fallback.
    outsider = client_in(globex[1]["owner"])
    outsider.credentials(
        HTTP_AUTHORIZATION=outsider._credentials["HTTP_AUTHORIZATION"], HTTP_X_TENANT_ID=str(org.pk)
    )
    assert outsider.get(URL).status_code == 404


def test_two_organizations_with_the_same_text_never_see_each_other(acme, globex, vector_store):
    acme_org, acme_people = acme
    globex_org, globex_people = globex
    acme_client = client_in(acme_people["owner"], acme_org)
    globex_client = client_in(globex_people["owner"], globex_org)
    a = _upload(acme_client, "acme.txt", visibility="shared")
    g = _upload(globex_client, "globex.txt", visibility="shared")
    assert a["sha256"] == g["sha256"]  # the very same bytes

    assert _search_ids(acme_client) == {a["id"]}
    assert _search_ids(globex_client) == {g["id"]}
    assert _search_ids(globex_client, document_ids=[a["id"]]) == set()
    for actor, expected in (
        (actor_in(acme_people["member"], acme_org), a["id"]),
        (actor_in(globex_people["owner"], globex_org), g["id"]),
    ):
        passages = retrieve_for_chat(actor=actor, query="HERON-5512 launch code")
        assert {p["document_id"] for p in passages} == {expected}


def test_the_vector_store_itself_filters_by_organization(acme, globex, vector_store):
    """Qdrant applies the organization filter: asked directly with another organization's id
    (and the document named), the store returns nothing - no database check involved."""
    org, people = acme
    alice = people["member"]
    shared = _upload(client_in(alice, org), "shared.txt", visibility="shared")
    document = Document.objects.get(pk=shared["id"])
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    vector = hashed_embedding("HERON-5512 launch code", document.embedding_dimensions)

    def search(organization_id: str, owner_id: str) -> set[str]:
        hits = async_to_sync(vector_store.search)(
            name,
            scope=SearchScope(organization_id=organization_id, owner_id=owner_id),
            dense_vector=vector,
            query_text="HERON-5512 launch code",
            limit=20,
            document_ids=[shared["id"]],
        )
        return {h.document_id for h in hits}

    assert search(str(org.pk), str(people["member-2"].pk)) == {shared["id"]}
    assert search(str(globex[0].pk), str(alice.pk)) == set()
    assert search(str(globex[0].pk), str(globex[1]["owner"].pk)) == set()


def test_hits_are_checked_against_the_database(acme, edge_store, monkeypatch):
    """A point the store still has, whose document was deleted or made private in the
    database, never reaches a response or a prompt."""
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    alice_client, bob_client = client_in(alice, org), client_in(bob, org)
    made_private = _upload(alice_client, "one.txt", visibility="shared")
    deleted = _upload(alice_client, "two.txt", TEXT + b" Second copy.", visibility="shared")
    assert _search_ids(bob_client) == {made_private["id"], deleted["id"]}

    # The database changes, the vectors do not (a payload update or a cleanup that failed).
    Document.objects.filter(pk=made_private["id"]).update(visibility="private")
    monkeypatch.setattr("documents.signals.document_cleanup", lambda **kwargs: None)
    Document.objects.filter(pk=deleted["id"]).delete()
    kept = Document.objects.get(pk=made_private["id"])
    name = collection_name(kept.embedding_model, kept.embedding_dimensions)
    assert async_to_sync(edge_store.count)(name, document_id=deleted["id"]) > 0
    # The store would still return both to Bob ...
    hits = async_to_sync(edge_store.search)(
        name,
        scope=SearchScope(organization_id=str(org.pk), owner_id=str(bob.pk)),
        dense_vector=hashed_embedding("HERON-5512", kept.embedding_dimensions),
        query_text="HERON-5512",
        limit=20,
    )
    assert {h.document_id for h in hits} == {made_private["id"], deleted["id"]}
    # ... the service drops both.
    assert _search_ids(bob_client) == set()
    assert retrieve_for_chat(actor=actor_in(bob, org), query="HERON-5512") == []
    assert search_chunks(actor=actor_in(bob, org), query="HERON-5512") == []
    # Alice still finds the one she owns.
    assert _search_ids(alice_client) == {made_private["id"]}


def test_changing_visibility_updates_the_vectors_payload(acme, vector_store):
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    alice_client, bob_client = client_in(alice, org), client_in(bob, org)
    document = _upload(alice_client, "notes.txt")
    stored = Document.objects.get(pk=document["id"])
    name = collection_name(stored.embedding_model, stored.embedding_dimensions)

    def store_finds_for_bob() -> bool:
        hits = async_to_sync(vector_store.search)(
            name,
            scope=SearchScope(organization_id=str(org.pk), owner_id=str(bob.pk)),
            dense_vector=hashed_embedding("HERON-5512", stored.embedding_dimensions),
            query_text="HERON-5512",
            limit=20,
        )
        return document["id"] in {h.document_id for h in hits}

    assert not store_finds_for_bob()
    response = alice_client.patch(
        f"{URL}/{document['id']}", {"visibility": "shared"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["visibility"] == "shared"
    assert store_finds_for_bob()
    assert _search_ids(bob_client) == {document["id"]}

    response = alice_client.patch(
        f"{URL}/{document['id']}", {"visibility": "private"}, format="json"
    )
    assert response.status_code == 200
    assert not store_finds_for_bob()
    assert _search_ids(bob_client) == set()


def test_who_may_change_a_document(acme, edge_store):
    org, people = acme
    clients = {role: client_in(user, org) for role, user in people.items()}
    shared = _upload(clients["member"], "shared.txt", visibility="shared")
    private = _upload(clients["member"], "private.txt", TEXT + b" mine")

    def patch(role: str, document: dict, visibility: str) -> int:
        return (
            clients[role]
            .patch(f"{URL}/{document['id']}", {"visibility": visibility}, format="json")
            .status_code
        )

    # Another member and a viewer read the shared document but may not change it.
    assert patch("member-2", shared, "private") == 403
    assert clients["member-2"].delete(f"{URL}/{shared['id']}").status_code == 403
    assert clients["member-2"].post(f"{URL}/{shared['id']}/reindex").status_code == 403
    assert patch("viewer", shared, "private") == 403
    assert clients["viewer"].delete(f"{URL}/{shared['id']}").status_code == 403
    assert (
        clients["viewer"].post(URL, {"file": upload("v.txt", b"viewer words")}).status_code == 403
    )
    # Nobody else even sees the private one, admins included (a viewer's writes stop at 403
    # before any document is looked up, so that says nothing either).
    for role in ("owner", "admin", "member-2"):
        assert patch(role, private, "shared") == 404
        assert clients[role].delete(f"{URL}/{private['id']}").status_code == 404
    # Organization admins manage shared documents.
    assert patch("admin", shared, "private") == 200
    assert clients["admin"].get(f"{URL}/{shared['id']}").status_code == 404  # now private
    assert patch("member", shared, "shared") == 200
    assert clients["owner"].delete(f"{URL}/{shared['id']}").status_code == 204
    assert not Document.objects.filter(pk=shared["id"]).exists()
    # The owner renames and deletes their own.
    response = clients["member"].patch(
        f"{URL}/{private['id']}", {"title": "Renamed"}, format="json"
    )
    assert response.status_code == 200 and response.json()["title"] == "Renamed"
    assert patch("member", private, "public") == 400


def test_organization_caps_refuse_uploads_with_plan_limit(edge_store, tmp_path):
    org = organization_with("Capped", max_documents=2, max_storage_bytes=200)
    alice = member(org, role="owner")
    bob = member(org, role="member")
    alice_client, bob_client = client_in(alice, org), client_in(bob, org)
    _upload(alice_client, "a.txt", b"alpha " * 10)
    # Storage: 60 bytes used, 150 more would pass 200.
    response = bob_client.post(URL, {"file": upload("big.txt", b"bravo " * 25)}, format="multipart")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "PLAN_LIMIT"
    assert body["details"]["limit"] == "max_storage_bytes"
    # Count: the cap covers every member's documents.
    _upload(bob_client, "b.txt", b"charlie " * 5)
    response = alice_client.post(URL, {"file": upload("c.txt", b"delta")}, format="multipart")
    assert response.status_code == 403
    assert response.json()["code"] == "PLAN_LIMIT"
    assert response.json()["details"] == {"limit": "max_documents", "max": 2, "current": 2}
    assert Document.objects.filter(organization=org).count() == 2

    # The same caps on the command door.
    path = tmp_path / "more.txt"
    path.write_bytes(b"echo foxtrot")
    with pytest.raises(CommandError):
        call_command(
            "ingest",
            str(path),
            "--user",
            alice.email,
            "--organization",
            org.slug,
            stdout=io.StringIO(),
            stderr=(err := io.StringIO()),
        )
    assert "limit of 2 documents" in err.getvalue()
    assert Document.objects.filter(organization=org).count() == 2
    # Without caps (another organization of the same user) the command ingests, shared.
    free = organization_with("Free")
    member(free, role="member", user=alice)
    call_command(
        "ingest",
        str(path),
        "--user",
        alice.email,
        "--organization",
        str(free.pk),
        "--shared",
        stdout=io.StringIO(),
    )
    document = Document.objects.get(organization=free)
    assert document.visibility == "shared" and document.status == "ready"


def test_chat_sessions_may_use_only_readable_documents(acme, edge_store):
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    shared = _upload(client_in(alice, org), "shared.txt", visibility="shared")
    private = _upload(client_in(alice, org), "private.txt", TEXT + b" mine")
    bob_client = client_in(bob, org)
    ok = bob_client.post("/api/v1/chat/sessions", {"document_ids": [shared["id"]]}, format="json")
    assert ok.status_code == 201, ok.json()
    refused = bob_client.post(
        "/api/v1/chat/sessions", {"document_ids": [private["id"]]}, format="json"
    )
    assert refused.status_code == 400
    # Bob's session is his own: Alice does not see it.
    assert ok.json()["id"] not in {
        s["id"] for s in client_in(alice, org).get("/api/v1/chat/sessions").json()["results"]
    }


def test_file_link_follows_visibility(acme, edge_store):
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    shared = _upload(client_in(alice, org), "shared.txt", visibility="shared")
    link = client_in(bob, org).post(f"{URL}/{shared['id']}/link")
    assert link.status_code == 200
    assert APIClient().get(link.json()["url"]).status_code == 200
    Document.objects.filter(pk=shared["id"]).update(visibility="private")
    assert APIClient().get(link.json()["url"]).status_code == 404


def test_reindex_payloads_sets_the_organization_on_old_points(acme, edge_store):
    org, people = acme
    alice, bob = people["member"], people["member-2"]
    shared = _upload(client_in(alice, org), "shared.txt", visibility="shared")
    document = Document.objects.get(pk=shared["id"])
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    # Points as they were indexed before organizations: no organization, no visibility.
    async_to_sync(edge_store.upsert)(
        name,
        [
            ChunkPoint(
                document_id=str(document.pk),
                owner_id=str(alice.pk),
                chunk_index=0,
                page=1,
                text=TEXT.decode(),
                vector=hashed_embedding(TEXT.decode(), document.embedding_dimensions),
                organization_id="",
                visibility="",
            )
        ],
    )
    bob_client = client_in(bob, org)
    assert _search_ids(bob_client) == set()
    call_command("reindex_payloads", stdout=(out := io.StringIO()))
    assert "1 document(s)" in out.getvalue()
    assert _search_ids(bob_client) == {shared["id"]}
