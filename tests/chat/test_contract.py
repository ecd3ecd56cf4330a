"""Chat contract edges of issue 16: partial updates, numeric ratings, WebSocket clients
without a browser, unknown WebSocket paths."""

import pytest
from channels.testing import WebsocketCommunicator

from tests.accounts.helpers import assert_envelope
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory
from tests.chat.ws import application

SESSIONS = "/api/v1/chat/sessions"


# --- a partial update changes only what the client sent (item 4) ---------------------------


@pytest.mark.django_db
def test_form_patch_does_not_archive_the_session(user_client, user):
    session = ChatSessionFactory(user=user, title="Budget")
    response = user_client.patch(f"{SESSIONS}/{session.pk}", {"title": "New"}, format="multipart")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    session.refresh_from_db()
    assert session.is_active is True and session.title == "Budget"


# --- seed 003: rating with a number --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("score", "rating"), [(5, "up"), (4, "up"), (3, "down"), (1, "down")])
def test_numeric_rating_maps_to_up_or_down_and_keeps_the_score(user_client, user, score, rating):
    message = ChatMessageFactory(session=ChatSessionFactory(user=user))
    url = f"/api/v1/chat/messages/{message.pk}/feedback"
    response = user_client.post(url, {"rating": score}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["feedback"]["rating"] == rating
    assert response.json()["feedback"]["score"] == score
    # Anything else is still refused.
    for value in (0, 6, True, "5", 4.5, "meh"):
        body = assert_envelope(user_client.post(url, {"rating": value}, format="json"), 400)
        assert "rating" in body["details"]


# --- WebSocket: non-browser clients, foreign origins, unknown paths (item 6) ----------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/chat/", "/ws/chat"])
async def test_websocket_without_origin_is_accepted(access_token, path):
    communicator = WebsocketCommunicator(application(), f"{path}?token={access_token}")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "ready"
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_policy(access_token):
    """No Origin (not a browser): accepted. A browser's own origin: accepted. A foreign browser
    origin: refused."""
    bare = WebsocketCommunicator(application(), "/ws/chat/")
    assert (await bare.connect(timeout=5))[0]
    await bare.disconnect()
    own = WebsocketCommunicator(
        application(), "/ws/chat/", headers=[(b"origin", b"http://localhost:8000")]
    )
    assert (await own.connect(timeout=5))[0]
    await own.disconnect()
    for origin in (b"http://evil.example", b"null", b"http://testserver.evil"):
        foreign = WebsocketCommunicator(
            application(), f"/ws/chat/?token={access_token}", headers=[(b"origin", origin)]
        )
        connected, _ = await foreign.connect(timeout=5)
        assert not connected, origin


@pytest.mark.parametrize("path", ["/ws/nope", "/ws/chat/extra", "/elsewhere"])
async def test_unknown_websocket_path_closes_cleanly(path):
    communicator = WebsocketCommunicator(application(), path)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "NOT_FOUND"
    assert frame["details"]["endpoints"] == ["/ws/chat/"]
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 4404


# --- statuses the schema documents (item 2) --------------------------------------------------


@pytest.mark.django_db
def test_conflicts_of_chat_operations_are_documented(user_client, user, api_client):
    import yaml

    paths = yaml.safe_load(api_client.get("/api/schema/").content)["paths"]
    archived = ChatSessionFactory(user=user, is_active=False)
    response = user_client.post(
        "/api/v1/chat/message", {"message": "hi", "session_id": archived.pk}, format="json"
    )
    assert_envelope(response, 409)
    assert "409" in paths["/api/v1/chat/message"]["post"]["responses"]
    streaming = ChatMessageFactory(session=archived, status="streaming")
    response = user_client.post(
        f"/api/v1/chat/messages/{streaming.pk}/feedback", {"rating": "up"}, format="json"
    )
    assert_envelope(response, 409)
    assert "409" in paths["/api/v1/chat/messages/{message_id}/feedback"]["post"]["responses"]
