"""Chat contract edges of issue 16: partial updates, numeric ratings, WebSocket clients
without a browser, unknown WebSocket paths."""

import pytest
from channels.testing import WebsocketCommunicator
from django.http import QueryDict

from chat.api.serializers import ChatSessionUpdateSerializer
from chat.models import ChatSession
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


@pytest.mark.django_db
@pytest.mark.parametrize("is_active", [True, False])
def test_json_patch_of_the_title_keeps_is_active(user_client, user, is_active):
    session = ChatSessionFactory(user=user, is_active=is_active)
    response = user_client.patch(f"{SESSIONS}/{session.pk}", {"title": "New"}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is is_active
    assert ChatSession.objects.get(pk=session.pk).is_active is is_active


def test_session_update_serializer_reads_no_absent_field_from_a_form():
    # Even from form data (where an absent checkbox reads as false) nothing unsent appears.
    serializer = ChatSessionUpdateSerializer(data=QueryDict("title=x"), partial=True)
    assert serializer.is_valid(), serializer.errors
    assert dict(serializer.validated_data) == {"title": "x"}


@pytest.mark.django_db
def test_profile_patch_changes_only_what_was_sent(user_client, user):
    user.full_name, user.preferences = "Ada L", {"theme": "dark"}
    user.save()
    response = user_client.patch("/api/v1/users/me", {"username": "ada2"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.username, user.full_name, user.preferences) == (
        "ada2",
        "Ada L",
        {"theme": "dark"},
    )


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


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, 6, True, "5", 4.5, "meh"])
def test_other_ratings_are_a_400(user_client, user, value):
    message = ChatMessageFactory(session=ChatSessionFactory(user=user))
    url = f"/api/v1/chat/messages/{message.pk}/feedback"
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
@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", b"http://testserver.evil"])
async def test_websocket_from_a_foreign_browser_origin_is_refused(access_token, origin):
    communicator = WebsocketCommunicator(
        application(), f"/ws/chat/?token={access_token}", headers=[(b"origin", origin)]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


@pytest.mark.django_db(transaction=True)
async def test_websocket_from_an_allowed_browser_origin_is_accepted(access_token):
    communicator = WebsocketCommunicator(
        application(), "/ws/chat/", headers=[(b"origin", b"http://localhost:8000")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.disconnect()


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
