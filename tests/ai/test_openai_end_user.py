"""OpenAI's ``user`` field: recorded where an operator looks, bounded, never trusted for access."""

import json

import pytest
from asgiref.sync import async_to_sync

from metering.models import UsageRecord
from ops.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake_openai, settings):
    fake_openai.configure(settings)
    return fake_openai


def _chat(client, **extra):
    return client.post(
        "/v1/chat/completions",
        {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], **extra},
        format="json",
    )


def _events(user, action="ai_generation"):
    return list(AuditEvent.objects.filter(actor=user, action=action).order_by("id"))


def test_user_is_recorded_in_the_audit_event_and_charged_to_the_caller(user, user_client, fake):
    other = UserFactory(email="victim@example.com")
    fake.script(text="fine")
    # A ``user`` naming someone else changes nothing about who is authenticated and charged.
    response = _chat(user_client, user=f"{other.email}\n\x1b[31m")
    assert response.status_code == 200, response.content
    (event,) = _events(user)
    assert event.details["end_user"] == f"{other.email}[31m"  # control characters dropped
    assert event.details["usage"]["completion_tokens"] == 1
    assert UsageRecord.objects.filter(user=user).count() == 1
    assert not UsageRecord.objects.filter(user=other).exists()
    assert not _events(other)


def test_user_of_a_stream_and_of_embeddings_is_recorded(user, user_client, fake):
    fake.script(text="one two")
    response = _chat(user_client, stream=True, user="ide-plugin:42")

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    assert async_to_sync(collect)().decode().rstrip().endswith("data: [DONE]")
    (event,) = _events(user)
    assert (event.details["end_user"], event.details["status"]) == ("ide-plugin:42", "complete")
    embedded = user_client.post(
        "/v1/embeddings",
        {"model": "fake-embed", "input": "abc", "user": "script-7"},
        format="json",
    )
    assert embedded.status_code == 200, embedded.content
    (event,) = _events(user, "ai_embedding")
    assert event.details["end_user"] == "script-7"


def test_without_user_no_end_user_is_recorded(user, user_client, fake):
    fake.script(text="fine")
    assert _chat(user_client).status_code == 200
    (event,) = _events(user)
    assert "end_user" not in event.details


def test_user_is_bounded(user, user_client, fake):
    calls = len(fake.chat_requests())
    response = _chat(user_client, user="u" * 257)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "user"
    assert len(fake.chat_requests()) == calls
    assert json.loads(response.content)["error"]["type"] == "invalid_request_error"
