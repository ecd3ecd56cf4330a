"""The retrieval extension of /v1/chat/completions: grounded answers with citations."""

import json

import pytest
from asgiref.sync import async_to_sync

from chat.models import ChatMessage
from tests.ai.factories import edge_store_fixture  # noqa: F401
from tests.documents.test_grounded_chat import FACT, _upload_manual
from tests.fakes import Script

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "How long is the warranty for KX-5521?"


def _ask(client, **extra):
    return client.post(
        "/v1/chat/completions",
        {"model": "fake-chat", "messages": [{"role": "user", "content": QUESTION}], **extra},
        format="json",
    )


def test_retrieval_grounds_the_answer_and_returns_citations(
    user, user_client, edge_store, fake_openai, settings
):
    fake_openai.configure(settings)
    document_id = _upload_manual(user_client)
    # The query's embedding call takes a scripted answer too: the default serves both.
    fake_openai.default = Script(text="Seven years.")
    body = _ask(user_client, retrieval={"enabled": True, "top_k": 2}).json()
    assert body["choices"][0]["message"]["content"] == "Seven years."
    top = body["citations"][0]
    assert (top["document_id"], top["title"], top["page"]) == (document_id, "manual", 2)
    assert set(top) == {"document_id", "title", "page", "score"}
    assert len(body["citations"]) <= 2
    assert FACT in json.dumps(fake_openai.chat_requests()[-1]["messages"])
    # Not asked for: no retrieval, no citations, and nothing stored as a chat.
    plain = _ask(user_client).json()
    assert "citations" not in plain
    assert FACT not in json.dumps(fake_openai.chat_requests()[-1]["messages"])
    assert not ChatMessage.objects.filter(user=user).exists()


def test_streamed_citations_come_in_the_final_chunk(user_client, edge_store, fake_openai, settings):
    fake_openai.configure(settings)
    document_id = _upload_manual(user_client)
    # The query's embedding call takes a scripted answer too: the default serves both.
    fake_openai.default = Script(text="Seven years.")
    response = _ask(user_client, stream=True, retrieval={"enabled": True})
    assert response["Content-Type"] == "text/event-stream"

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    events = [
        line.removeprefix("data: ")
        for line in async_to_sync(collect)().decode().split("\n\n")
        if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    final = next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"])
    assert final["citations"][0]["document_id"] == document_id
    assert all("citations" not in c for c in chunks if c is not final)
