"""Provider outage for a user who has documents: the query embedding fails first.

Every door answers the documented envelope (502 ``AI_PROVIDER_ERROR`` on REST, an ``error``
frame on the WebSocket, which stays open) and no message is left ``pending``/``streaming``.
"""

import pytest
from channels.db import database_sync_to_async

from chat.models import ACTIVE_STATUSES, ChatMessage
from tests.ai.factories import edge_store_fixture, upload  # noqa: F401
from tests.chat.ws import open_socket
from tests.fakes import Script

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = b"The spare key of the depot is kept under the blue lantern by the harbor gate."


@pytest.fixture
def provider_down(user_client, edge_store, openai_settings, settings):
    """A ready document of the user, then every provider call (embeddings too) answers 500."""
    response = user_client.post(
        "/api/v1/documents", {"file": upload("notes.txt", NOTES)}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    document = user_client.get(f"/api/v1/documents/{response.json()['id']}").json()
    assert document["status"] == "ready", document
    settings.AI_MAX_RETRIES = 0
    openai_settings.default = Script(status=500)
    return openai_settings


def _active_messages() -> int:
    return ChatMessage.objects.filter(status__in=ACTIVE_STATUSES).count()


def _assert_provider_envelope(response) -> None:
    assert response.status_code == 502, (response.status_code, response.content)
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "AI_PROVIDER_ERROR"
    assert body["request_id"]


def test_rest_chat_message_answers_the_envelope(provider_down, user_client):
    response = user_client.post("/api/v1/chat/message", {"message": "Where is the spare key?"})
    _assert_provider_envelope(response)
    assert _active_messages() == 0
    # The embedding call was the one that failed (the chat model was never reached).
    assert provider_down.chat_requests() == []


def test_search_answers_the_envelope(provider_down, user_client):
    response = user_client.post("/api/v1/search", {"query": "spare key"})
    _assert_provider_envelope(response)


def test_vector_store_failure_answers_503(user_client, edge_store, openai_settings, monkeypatch):
    response = user_client.post(
        "/api/v1/documents", {"file": upload("notes.txt", NOTES)}, format="multipart"
    )
    assert response.status_code == 202
    from ai.vectorstore import VectorStoreError

    def broken():
        raise VectorStoreError("The vector store is down for the test.")

    monkeypatch.setattr("documents.search.get_vector_store", broken)
    search = user_client.post("/api/v1/search", {"query": "spare key"})
    assert search.status_code == 503, search.content
    assert search.json()["code"] == "VECTOR_STORE_UNAVAILABLE"
    assert search.json()["message"] == "The vector store is down for the test."
    chat = user_client.post("/api/v1/chat/message", {"message": "Where is the spare key?"})
    assert chat.status_code == 503, chat.content
    assert chat.json()["code"] == "VECTOR_STORE_UNAVAILABLE"
    assert _active_messages() == 0


async def test_websocket_gets_an_error_frame_and_stays_open(provider_down, access_token):
    ws = await open_socket(access_token)
    await ws.send_json_to({"type": "message", "content": "Where is the spare key?"})
    frame = await ws.receive_json_from(timeout=10)
    assert frame["type"] == "error", frame
    assert frame["code"] == "AI_PROVIDER_ERROR"
    assert frame["success"] is False
    # The socket is still usable: no 1011 close.
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()
    assert await database_sync_to_async(_active_messages)() == 0
