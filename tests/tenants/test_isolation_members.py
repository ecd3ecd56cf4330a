"""Isolation inside one organization and over the WebSocket (issue 18).

A member of A never sees another member's private documents or chat sessions; over the
socket, b1 (acting in B) cannot resume or cancel A's answers, and an ``auth`` frame naming
A is refused. The first test proves the walk's trace detection finds A where A is visible,
so its silence elsewhere means something."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers

from accounts.tokens import issue_tokens
from tests.chat.ws import open_socket
from tests.tenants.casekit import ANSWERS_QUESTION, items_of
from tests.tenants.test_cross_tenant_walk import index_documents
from tests.tenants.world import SECRET, World, build_world, client_for


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    settings.AI_PROVIDER = "offline"
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_world()


@pytest.fixture
def indexed_world(world, settings, tmp_path, django_capture_on_commit_callbacks) -> World:
    from ai.vectorstore import reset_vector_stores

    reset_vector_stores()
    settings.QDRANT_PATH = tmp_path / "qdrant"
    settings.QDRANT_BACKEND = "edge"
    settings.QDRANT_LOCATION = ""
    index_documents(world, django_capture_on_commit_callbacks)
    yield world
    reset_vector_stores()


def test_the_trace_detection_finds_a_where_a_is_visible(world):
    a1 = client_for(world.a1, world.a)
    ids = world.ids["a1"]
    documents = a1.get("/api/v1/documents")
    assert documents.status_code == 200
    assert ids.document in documents.content.decode()
    sessions = a1.get("/api/v1/chat/sessions").content.decode()
    assert SECRET in sessions
    assert a1.get(f"/api/v1/chat/sessions/{ids.session}/messages").status_code == 200


def test_a_member_does_not_see_another_members_private_rows(world):
    a2 = client_for(world.a2, world.a)
    a1_ids = world.ids["a1"]
    listed = {d["id"] for d in items_of(a2.get("/api/v1/documents").json())}
    assert world.ids["a2"].document in listed  # a2's own
    assert a1_ids.document not in listed
    assert a2.get(f"/api/v1/documents/{a1_ids.document}").status_code == 404
    assert a2.post(f"/api/v1/documents/{a1_ids.document}/link").status_code == 404
    assert a2.delete(f"/api/v1/documents/{a1_ids.document}").status_code == 404

    sessions = {s["id"] for s in items_of(a2.get("/api/v1/chat/sessions").json())}
    assert world.ids["a2"].session in sessions
    assert a1_ids.session not in sessions
    assert a2.get(f"/api/v1/chat/sessions/{a1_ids.session}").status_code == 404
    assert a2.get(f"/api/v1/chat/sessions/{a1_ids.session}/messages").status_code == 404
    assert (
        a2.post(f"/api/v1/chat/messages/{a1_ids.message}/feedback", {"rating": "up"}).status_code
        == 404
    )
    assert len(items_of(a2.get(f"/api/v1/chat/sessions?q={SECRET}").json())) == 1  # a2's only
    history = {g["id"] for g in items_of(a2.get("/api/v1/ai/ideas/history").json())}
    assert history == {world.ids["a2"].generation}


def test_search_and_answers_of_a_member_never_use_another_members_private_document(
    indexed_world,
):
    world = indexed_world
    a2 = client_for(world.a2, world.a)
    a1_private = world.ids["a1"].document
    found = a2.post("/api/v1/search", {"query": ANSWERS_QUESTION, "top_k": 50}, format="json")
    assert found.status_code == 200
    cited = {r["document_id"] for r in items_of(found.json())}
    assert world.ids["a2"].document in cited  # the search works for a2
    assert a1_private not in cited
    answer = a2.post("/api/v1/chat/message", {"message": ANSWERS_QUESTION}, format="json")
    sources = {s["document_id"] for s in answer.json()["sources"]}
    assert sources and a1_private not in sources
    # The passage of a1's private document ("... of a1 (document) ...") is never quoted.
    assert "a1 (document)" not in answer.json()["response"]


# --- the WebSocket ------------------------------------------------------------------------------
@pytest.fixture
def _fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_socket_of_b_cannot_resume_or_cancel_answers_of_a(settings, _fresh_channel_layer):
    settings.AI_PROVIDER = "offline"
    world = await database_sync_to_async(build_world)()
    token = (await database_sync_to_async(issue_tokens)(user=world.b1))["access"]
    a_message = world.ids["a1"].message

    # b1 in B (the auth frame names B): A's message ids are not found.
    from channels.testing import WebsocketCommunicator

    from tests.chat.ws import ORIGIN, application

    ws = WebsocketCommunicator(application(), "/ws/chat/", headers=[ORIGIN])
    assert (await ws.connect(timeout=5))[0]
    await ws.send_json_to({"type": "auth", "token": token, "tenant": str(world.b.pk)})
    ready = await ws.receive_json_from(timeout=5)
    assert ready["type"] == "ready" and ready["organization"]["id"] == str(world.b.pk)
    for frame in (
        {"type": "resume", "message_id": a_message, "after_seq": 0},
        {"type": "cancel", "message_id": a_message},
    ):
        await ws.send_json_to(frame)
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "NOT_FOUND", error
        assert SECRET not in str(error)
    await ws.disconnect()

    # Naming A in the auth frame (or ?tenant=): refused, never a fallback to B.
    for path, frame_tenant in (
        ("/ws/chat/", str(world.a.pk)),
        ("/ws/chat/?tenant=alpha-corp", None),
    ):
        ws = WebsocketCommunicator(application(), path, headers=[ORIGIN])
        assert (await ws.connect(timeout=5))[0]
        auth = {"type": "auth", "token": token}
        if frame_tenant:
            auth["tenant"] = frame_tenant
        await ws.send_json_to(auth)
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "TENANT_NOT_FOUND", error
        assert (await ws.receive_output(timeout=5))["type"] == "websocket.close"
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_of_a_member_cannot_resume_another_members_answer(
    settings, _fresh_channel_layer
):
    settings.AI_PROVIDER = "offline"
    world = await database_sync_to_async(build_world)()
    token = (await database_sync_to_async(issue_tokens)(user=world.a2))["access"]
    ws = await open_socket(token, path=f"/ws/chat/?tenant={world.a.slug}")
    for frame in (
        {"type": "resume", "message_id": world.ids["a1"].message, "after_seq": 0},
        {"type": "cancel", "message_id": world.ids["a1"].message},
    ):
        await ws.send_json_to(frame)
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "NOT_FOUND", error
    await ws.disconnect()
