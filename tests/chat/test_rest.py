"""The chat REST API: sessions, messages, the non-streaming answer, feedback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, MessageStatus
from documents.models import Document, DocumentStatus
from metering.models import UsageRecord
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
SESSIONS = "/api/v1/chat/sessions"
SEND = "/api/v1/chat/message"


def _document(owner, title="Handbook", status=DocumentStatus.READY) -> Document:
    return Document.objects.create(
        owner=owner,
        title=title,
        file="x.pdf",
        file_type="pdf",
        sha256=title.encode().hex().ljust(64, "0")[:64],
        status=status,
    )


# --- sessions ----------------------------------------------------------------------------


def test_sessions_list_is_own_and_newest_first(user_client, user):
    now = timezone.now()
    old = ChatSessionFactory(user=user, created_at=now - timedelta(days=1))
    new = ChatSessionFactory(user=user, created_at=now)
    ChatSessionFactory()  # someone else's
    response = user_client.get(SESSIONS)
    assert response.status_code == 200
    assert response.data["count"] == 2
    assert [s["id"] for s in response.data["results"]] == [new.pk, old.pk]


def test_create_rename_archive_delete_session(user_client, user):
    document = _document(user)
    response = user_client.post(
        SESSIONS, {"title": "Budget", "document_ids": [str(document.pk)]}, format="json"
    )
    assert response.status_code == 201, response.data
    session_id = response.data["id"]
    assert response.data["document_ids"] == [str(document.pk)]

    response = user_client.patch(f"{SESSIONS}/{session_id}", {"title": "Budget 2027"})
    assert response.status_code == 200 and response.data["title"] == "Budget 2027"
    response = user_client.patch(f"{SESSIONS}/{session_id}", {"is_active": False})
    assert response.data["is_active"] is False
    assert user_client.get(f"{SESSIONS}/{session_id}").data["title"] == "Budget 2027"

    assert user_client.delete(f"{SESSIONS}/{session_id}").status_code == 204
    assert not ChatSession.objects.filter(pk=session_id).exists()


def test_session_cannot_use_someone_elses_document(user_client):
    foreign = _document(UserFactory())
    response = user_client.post(SESSIONS, {"document_ids": [str(foreign.pk)]}, format="json")
    assert response.status_code == 400
    assert response.data["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_foreign_session_is_404(user_client, method):
    foreign = ChatSessionFactory()
    response = getattr(user_client, method)(f"{SESSIONS}/{foreign.pk}", {"title": "x"})
    assert response.status_code == 404
    assert response.data["code"] == "NOT_FOUND"
    assert ChatSession.objects.filter(pk=foreign.pk, title=foreign.title).exists()


def test_foreign_session_messages_are_404(user_client):
    foreign = ChatMessageFactory()
    assert user_client.get(f"{SESSIONS}/{foreign.session_id}/messages").status_code == 404


def test_messages_are_chronological_and_paginated(user_client, user):
    session = ChatSessionFactory(user=user)
    now = timezone.now()
    ids = [
        ChatMessageFactory(session=session, timestamp=now + timedelta(seconds=i)).pk
        for i in range(3)
    ]
    response = user_client.get(f"{SESSIONS}/{session.pk}/messages?page_size=2")
    assert response.data["count"] == 3
    assert [m["message_id"] for m in response.data["results"]] == ids[:2]
    first = response.data["results"][0]
    assert set(first) >= {"message", "response", "status", "sources", "metadata", "timestamp"}


def test_anonymous_is_401(api_client):
    assert api_client.get(SESSIONS).status_code == 401
    assert api_client.post(SEND, {"message": "hi"}).status_code == 401


@pytest.mark.parametrize("page_size", [5, 50])
def test_session_list_query_count_is_constant(
    user_client, user, page_size, django_assert_num_queries
):
    document = _document(user)
    for _ in range(page_size):
        ChatSessionFactory(user=user).documents.add(document)
    user_client.get(ME)  # the user's memberships are cached from the first request on
    # auth user + count + page + documents prefetch
    with django_assert_num_queries(4):
        response = user_client.get(f"{SESSIONS}?page_size={page_size}")
    assert len(response.data["results"]) == page_size
    assert response.data["results"][0]["document_ids"] == [str(document.pk)]


def test_session_list_document_ids_match_the_detail(user_client, user):
    """The list reads the id pairs itself; the detail prefetches: same ids, same order."""
    older, newer = _document(user, "Older"), _document(user, "Newer")
    Document.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    with_two, without = ChatSessionFactory(user=user), ChatSessionFactory(user=user)
    with_two.documents.add(older, newer)
    rows = {row["id"]: row for row in user_client.get(SESSIONS).json()["results"]}
    assert rows[with_two.pk]["document_ids"] == [str(newer.pk), str(older.pk)]
    assert rows[without.pk]["document_ids"] == []
    for session in (with_two, without):
        detail = user_client.get(f"{SESSIONS}/{session.pk}").json()
        assert detail == rows[session.pk]


@pytest.mark.parametrize("page_size", [5, 50])
def test_message_list_query_count_is_constant(
    user_client, user, page_size, django_assert_num_queries
):
    session = ChatSessionFactory(user=user)
    for _ in range(page_size):
        ChatMessageFactory(session=session)
    user_client.get(ME)  # the user's memberships are cached from the first request on
    # auth user + session (+ its documents prefetch) + count + page
    with django_assert_num_queries(5):
        response = user_client.get(f"{SESSIONS}/{session.pk}/messages?page_size={page_size}")
    assert len(response.data["results"]) == page_size


# --- sending -----------------------------------------------------------------------------


def test_send_offline_creates_session_titled_from_message(settings, user_client, user):
    settings.AI_PROVIDER = "offline"
    text = "What does the onboarding checklist for new engineers contain exactly, step by step?"
    response = user_client.post(SEND, {"message": text})
    assert response.status_code == 200, response.data
    data = response.data
    assert data["status"] == "complete"
    assert "No language model is configured" in data["response"]
    assert data["metadata"]["provider"] == "offline"
    session = ChatSession.objects.get(pk=data["session_id"])
    assert session.user == user and session.message_count == 1
    assert text.startswith(session.title.rstrip("…")) and len(session.title) <= 61
    usage = UsageRecord.objects.get(message_id=data["message_id"])
    assert usage.kind == "chat" and usage.provider == "offline" and usage.user == user


def test_send_through_fake_openai_builds_prompt_with_history(
    settings, fake_openai, user_client, user
):
    fake_openai.configure(settings, mode="openai")
    settings.CHAT_SYSTEM_PROMPT = "SYSTEM-PROMPT-MARKER"
    fake_openai.script(text="Paris.")
    first = user_client.post(SEND, {"message": "Capital of France?"}).data
    fake_openai.script(text="About two million.")
    second = user_client.post(
        SEND, {"message": "And its population?", "session_id": first["session_id"]}
    ).data
    assert second["response"] == "About two million."
    assert second["metadata"]["prompt_tokens"] > 0 and second["metadata"]["model"] == "fake-chat"
    prompt = fake_openai.chat_requests()[-1]["messages"]
    assert prompt == [
        {"role": "system", "content": "SYSTEM-PROMPT-MARKER"},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And its population?"},
    ]
    assert ChatSession.objects.get(pk=first["session_id"]).message_count == 2


def test_history_budget_drops_oldest_turns_first(settings, fake_openai, user_client, user):
    fake_openai.configure(settings, mode="openai")
    session = ChatSessionFactory(user=user)
    now = timezone.now()
    ChatMessageFactory(
        session=session, message="old " * 200, response="x", timestamp=now - timedelta(minutes=2)
    )
    ChatMessageFactory(
        session=session,
        message="recent question",
        response="recent answer",
        timestamp=now - timedelta(minutes=1),
    )
    settings.CHAT_HISTORY_TOKENS = 100
    user_client.post(SEND, {"message": "next", "session_id": session.pk})
    contents = [m["content"] for m in fake_openai.chat_requests()[-1]["messages"]]
    assert "recent question" in contents and "recent answer" in contents
    assert not any(c.startswith("old old") for c in contents)


def test_send_provider_failure_is_502_and_saved_as_failed(settings, fake_openai, user_client, user):
    fake_openai.configure(settings, mode="openai")
    settings.AI_MAX_RETRIES = 1
    settings.AI_RETRY_BACKOFF_BASE = 0.01
    fake_openai.fail(500, times=2)
    response = user_client.post(SEND, {"message": "hello"})
    assert response.status_code == 502
    assert response.data["code"] == "AI_PROVIDER_ERROR"
    message = ChatMessage.objects.get(pk=response.data["details"]["message_id"])
    assert message.status == MessageStatus.FAILED
    assert UsageRecord.objects.filter(message_id=message.pk).count() == 1


def test_send_rate_limited_upstream_is_503_with_retry_after(settings, fake_openai, user_client):
    fake_openai.configure(settings, mode="openai")
    settings.AI_MAX_RETRIES = 0
    fake_openai.fail(429, retry_after=7)
    response = user_client.post(SEND, {"message": "hello"})
    assert response.status_code == 503
    assert response["Retry-After"] == "7"


def test_send_model_allow_list(settings, fake_openai, user_client):
    fake_openai.configure(settings, mode="openai")
    settings.AI_ALLOWED_MODELS = ["fake-chat", "fake-large"]
    response = user_client.post(SEND, {"message": "hi", "model": "gpt-secret"})
    assert response.status_code == 400 and response.data["code"] == "MODEL_NOT_ALLOWED"
    assert fake_openai.chat_requests() == []
    response = user_client.post(SEND, {"message": "hi", "model": "fake-large"})
    assert response.status_code == 200
    assert fake_openai.chat_requests()[-1]["model"] == "fake-large"


def test_send_validation(user_client, settings):
    settings.AI_PROVIDER = "offline"
    assert user_client.post(SEND, {"message": ""}).status_code == 400
    response = user_client.post(SEND, {"message": "hi", "session_id": 999999})
    assert response.status_code == 404


def test_send_into_foreign_session_is_404(user_client, settings):
    settings.AI_PROVIDER = "offline"
    foreign = ChatSessionFactory()
    response = user_client.post(SEND, {"message": "hi", "session_id": foreign.pk})
    assert response.status_code == 404
    assert not ChatMessage.objects.filter(session=foreign).exists()


def test_send_into_archived_session_is_409(user_client, user, settings):
    settings.AI_PROVIDER = "offline"
    session = ChatSessionFactory(user=user, is_active=False)
    assert user_client.post(SEND, {"message": "hi", "session_id": session.pk}).status_code == 409


def test_viewer_reads_but_cannot_send_or_create(viewer_client, viewer_user, settings):
    settings.AI_PROVIDER = "offline"
    session = ChatSessionFactory(user=viewer_user)
    ChatMessageFactory(session=session)
    assert viewer_client.get(SESSIONS).status_code == 200
    assert viewer_client.get(f"{SESSIONS}/{session.pk}/messages").status_code == 200
    assert viewer_client.post(SEND, {"message": "hi"}).status_code == 403
    assert viewer_client.post(SESSIONS, {"title": "x"}).status_code == 403
    assert viewer_client.delete(f"{SESSIONS}/{session.pk}").status_code == 403
    assert ChatMessage.objects.filter(session=session).count() == 1


def test_offline_answers_extractively_from_documents(settings, user_client, user, monkeypatch):
    import documents.search

    settings.AI_PROVIDER = "offline"
    document = _document(user)
    passages = [
        {
            "document_id": str(document.pk),
            "title": "Handbook",
            "page": 12,
            "score": 0.71,
            "text": "The office opens at 8am. Everyone gets 25 days of paid holidays per year.",
        }
    ]
    calls = []

    def search_chunks(**kwargs):
        calls.append(kwargs)
        return passages

    monkeypatch.setattr(documents.search, "search_chunks", search_chunks)
    data = user_client.post(SEND, {"message": "How many paid holidays do we get?"}).data
    assert "25 days of paid holidays" in data["response"]
    assert "[1: Handbook, p. 12]" in data["response"]
    assert "8am" not in data["response"]
    assert data["sources"] == [
        {
            "document_id": str(document.pk),
            "title": "Handbook",
            "page": 12,
            "score": 0.71,
            "snippet": passages[0]["text"],
        }
    ]
    assert calls[0]["actor"].user == user and calls[0]["document_ids"] is None


def test_retrieval_is_skipped_without_ready_documents(settings, user_client, user, monkeypatch):
    import documents.search

    settings.AI_PROVIDER = "offline"
    _document(user, status=DocumentStatus.PROCESSING)

    def boom(**kwargs):
        raise AssertionError("search must not run")

    monkeypatch.setattr(documents.search, "search_chunks", boom)
    data = user_client.post(SEND, {"message": "anything"}).data
    assert data["sources"] == []


def test_session_limited_to_documents_passes_them_to_retrieval(
    settings, user_client, user, monkeypatch
):
    import documents.search

    settings.AI_PROVIDER = "offline"
    chosen = _document(user, title="Chosen")
    _document(user, title="Other")
    session = ChatSessionFactory(user=user)
    session.documents.add(chosen)
    calls = []
    monkeypatch.setattr(documents.search, "search_chunks", lambda **kw: calls.append(kw) or [])
    user_client.post(SEND, {"message": "question", "session_id": session.pk})
    assert calls[0]["document_ids"] == [str(chosen.pk)]


# --- feedback ----------------------------------------------------------------------------


def test_feedback_on_own_message(user_client, user):
    message = ChatMessageFactory(session=ChatSessionFactory(user=user))
    url = f"/api/v1/chat/messages/{message.pk}/feedback"
    response = user_client.post(url, {"rating": "down", "comment": "Wrong page"})
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.feedback["rating"] == "down" and message.feedback["comment"] == "Wrong page"
    assert user_client.post(url, {"rating": "meh"}).status_code == 400


def test_feedback_on_foreign_message_is_404(user_client):
    message = ChatMessageFactory()
    url = f"/api/v1/chat/messages/{message.pk}/feedback"
    assert user_client.post(url, {"rating": "up"}).status_code == 404
    message.refresh_from_db()
    assert message.feedback is None


def test_feedback_while_streaming_is_409(user_client, user):
    message = ChatMessageFactory(
        session=ChatSessionFactory(user=user), status=MessageStatus.STREAMING
    )
    url = f"/api/v1/chat/messages/{message.pk}/feedback"
    assert user_client.post(url, {"rating": "up"}).status_code == 409


# --- models endpoint ---------------------------------------------------------------------


def test_models_endpoint_offline(settings, user_client):
    settings.AI_PROVIDER = "offline"
    data = user_client.get("/api/v1/ai/models").data
    assert data["provider"] == "offline" and data["offline"] is True
    assert {"id": "offline-extractive", "kind": "chat", "default": True} in data["models"]


def test_models_endpoint_lists_allow_list(settings, fake_openai, user_client):
    fake_openai.configure(settings, mode="azure")
    settings.AI_ALLOWED_MODELS = ["chat-deploy", "gpt-4o-mini"]
    data = user_client.get("/api/v1/ai/models").data
    assert data["provider"] == "azure"
    chat = [m["id"] for m in data["models"] if m["kind"] == "chat"]
    assert chat == ["chat-deploy", "gpt-4o-mini"]
    assert {"id": "embed-deploy", "kind": "embedding", "default": True} in data["models"]
