"""Server pieces of the chat page (issue 22): session search, regenerating the last answer on
REST and WebSocket, and the allowed models the picker offers."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, MessageStatus
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory
from tests.chat.ws import open_socket, text_of, until_end

SESSIONS = "/api/v1/chat/sessions"
SEND = "/api/v1/chat/message"


# --- search -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_session_search_matches_titles_and_messages_of_ones_own_chats(user_client, user):
    now = timezone.now()
    by_title = ChatSessionFactory(user=user, title="Harbour budget", created_at=now)
    by_question = ChatSessionFactory(user=user, title="Misc", created_at=now - timedelta(hours=1))
    ChatMessageFactory(session=by_question, message="Where is the HARBOUR office?", response="")
    by_answer = ChatSessionFactory(user=user, title="Other", created_at=now - timedelta(hours=2))
    # Two matching messages: the session is still listed once.
    ChatMessageFactory(session=by_answer, message="q1", response="The harbour opens at 8.")
    ChatMessageFactory(session=by_answer, message="q2", response="The harbour closes at 6.")
    ChatSessionFactory(user=user, title="Unrelated")
    foreign = ChatSessionFactory(title="Harbour of someone else")

    response = user_client.get(f"{SESSIONS}?q=harbour")
    assert response.status_code == 200, response.data
    assert response.data["count"] == 3
    ids = [s["id"] for s in response.data["results"]]
    assert ids == [by_title.pk, by_question.pk, by_answer.pk]
    assert foreign.pk not in ids
    # No search: everything of one's own.
    assert user_client.get(SESSIONS).data["count"] == 4


@pytest.mark.django_db
def test_session_search_is_bounded(user_client):
    response = user_client.get(f"{SESSIONS}?q={'x' * 201}")
    assert response.status_code == 400
    assert response.data["code"] == "VALIDATION_ERROR"
    assert "q" in response.data["details"]


# --- regenerate over REST -----------------------------------------------------------------------


@pytest.mark.django_db
def test_regenerate_replaces_the_last_answer_and_keeps_history_before_it(
    settings, fake_openai, user_client, user
):
    fake_openai.configure(settings, mode="openai")
    settings.AI_ALLOWED_MODELS = ["fake-chat", "fake-chat-large"]
    fake_openai.script(text="Paris.")
    first = user_client.post(SEND, {"message": "Capital of France?"}).data
    session_id = first["session_id"]
    fake_openai.script(text="Two million.")
    last = user_client.post(SEND, {"message": "Population?", "session_id": session_id}).data

    fake_openai.script(text="About 2.1 million people.")
    response = user_client.post(
        f"{SESSIONS}/{session_id}/regenerate", {"model": "fake-chat-large"}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["message"] == "Population?"
    assert response.data["response"] == "About 2.1 million people."
    assert response.data["metadata"]["model"] == "fake-chat-large"
    # The prompt: the history before the replaced turn, then its question; not the old answer.
    request = fake_openai.chat_requests()[-1]
    assert request["model"] == "fake-chat-large"
    assert [m["content"] for m in request["messages"][1:]] == [
        "Capital of France?",
        "Paris.",
        "Population?",
    ]
    messages = list(ChatMessage.objects.filter(session_id=session_id).order_by("timestamp", "id"))
    assert [m.response for m in messages] == ["Paris.", "About 2.1 million people."]
    assert not ChatMessage.objects.filter(pk=last["message_id"]).exists()
    assert ChatSession.objects.get(pk=session_id).message_count == 2


@pytest.mark.django_db
def test_regenerate_refuses_a_running_answer_an_empty_chat_and_other_users(
    user_client, user, viewer_client
):
    session = ChatSessionFactory(user=user)
    url = f"{SESSIONS}/{session.pk}/regenerate"
    response = user_client.post(url, {}, format="json")
    assert response.status_code == 400 and "no answer" in response.data["message"]

    ChatMessageFactory(session=session, user=user, status=MessageStatus.STREAMING)
    response = user_client.post(url, {}, format="json")
    assert response.status_code == 409, response.data

    foreign = ChatMessageFactory()
    response = user_client.post(f"{SESSIONS}/{foreign.session_id}/regenerate", {}, format="json")
    assert response.status_code == 404
    assert ChatMessage.objects.filter(pk=foreign.pk).exists()

    response = viewer_client.post(url, {}, format="json")
    assert response.status_code in (403, 404)


@pytest.mark.django_db
def test_regenerate_with_a_model_outside_the_allow_list_is_refused(
    settings, fake_openai, user_client, user
):
    fake_openai.configure(settings, mode="openai")
    fake_openai.script(text="Paris.")
    first = user_client.post(SEND, {"message": "Capital of France?"}).data
    response = user_client.post(
        f"{SESSIONS}/{first['session_id']}/regenerate", {"model": "gpt-evil"}, format="json"
    )
    assert response.status_code == 400, response.data
    # The answer it would have replaced is still there.
    assert ChatMessage.objects.get(pk=first["message_id"]).response == "Paris."


# --- regenerate over the WebSocket --------------------------------------------------------------


@database_sync_to_async
def _responses(session_id: int) -> list[str]:
    return list(
        ChatMessage.objects.filter(session_id=session_id)
        .order_by("timestamp", "id")
        .values_list("response", flat=True)
    )


@pytest.mark.django_db(transaction=True)
async def test_regenerate_over_the_websocket_streams_a_replacement(openai_settings, access_token):
    ws = await open_socket(access_token)
    openai_settings.script(text="Paris.")
    await ws.send_json_to({"type": "message", "content": "Capital of France?"})
    start = await ws.receive_json_from(timeout=10)
    await until_end(ws)

    openai_settings.script(text="It is Paris, on the Seine.")
    await ws.send_json_to(
        {"type": "message", "session_id": start["session_id"], "regenerate": True}
    )
    again = await ws.receive_json_from(timeout=10)
    assert again["type"] == "start", again
    assert again["session_id"] == start["session_id"]
    assert again["message_id"] != start["message_id"]
    frames = await until_end(ws)
    assert text_of(frames) == "It is Paris, on the Seine."

    await ws.send_json_to({"type": "message", "session_id": start["session_id"], "regenerate": 1})
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "VALIDATION_ERROR"
    await ws.disconnect()
    assert await _responses(start["session_id"]) == ["It is Paris, on the Seine."]


# --- models ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_models_lists_the_allowed_chat_models_for_the_picker(settings, fake_openai, user_client):
    fake_openai.configure(settings, mode="openai")
    settings.AI_ALLOWED_MODELS = ["fake-chat", "fake-chat-large"]
    data = user_client.get("/api/v1/ai/models").data
    chat = [(m["id"], m["default"]) for m in data["models"] if m["kind"] == "chat"]
    assert chat == [("fake-chat", True), ("fake-chat-large", False)]
