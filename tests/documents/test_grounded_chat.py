"""Grounded chat end to end: upload -> index -> chat answer citing the right page.

The fake OpenAI-compatible server (``fake_openai``) serves both the embeddings and the chat
completion, so the test runs the real SDK code path and can read the prompt that was sent.
"""

import json

import pytest

from tests.ai.factories import (
    edge_store_fixture,  # noqa: F401
    lorem_page,
    make_pdf,
    upload,
)
from tests.conftest import _bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FACT = "The warranty for model KX-5521 lasts seven years from delivery."


def _upload_manual(client) -> str:
    pages = [lorem_page(1), lorem_page(2) + " " + FACT, lorem_page(3)]
    response = client.post(
        "/api/v1/documents", {"file": upload("manual.pdf", make_pdf(pages))}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    document_id = response.json()["id"]
    assert client.get(f"/api/v1/documents/{document_id}").json()["status"] == "ready"
    return document_id


def _prompt_text(request_body: dict) -> str:
    return json.dumps(request_body.get("messages", []))


def test_answer_sources_point_at_the_right_document_and_page(
    user_client, edge_store, fake_openai, settings
):
    fake_openai.configure(settings)
    document_id = _upload_manual(user_client)
    fake_openai.script(text="Seven years, see the manual.")

    response = user_client.post(
        "/api/v1/chat/message", {"message": "How long is the warranty for KX-5521?"}
    )
    assert response.status_code in (200, 201), response.json()
    body = response.json()
    assert body["sources"], body
    top = body["sources"][0]
    assert top["document_id"] == document_id
    assert top["title"] == "manual"
    assert top["page"] == 2
    assert top["snippet"]

    # The retrieved passage reached the model's prompt.
    chat_requests = fake_openai.chat_requests()
    assert chat_requests
    assert "KX-5521 lasts seven years" in _prompt_text(chat_requests[-1])


def test_another_user_gets_no_sources_and_no_leaked_text(
    user_client, edge_store, fake_openai, settings
):
    fake_openai.configure(settings)
    _upload_manual(user_client)
    bob = _bearer_client(UserFactory())
    bob.post(
        "/api/v1/documents",
        {"file": upload("bob.txt", b"Bob's notes about bicycles and tyres.")},
        format="multipart",
    )
    response = bob.post("/api/v1/chat/message", {"message": "warranty KX-5521 seven years"})
    assert response.status_code in (200, 201), response.json()
    assert all("KX-5521" not in s["snippet"] for s in response.json()["sources"])
    assert "KX-5521 lasts" not in _prompt_text(fake_openai.chat_requests()[-1])


def test_chat_without_documents_works_as_before(user_client, edge_store, fake_openai, settings):
    fake_openai.configure(settings)
    response = user_client.post("/api/v1/chat/message", {"message": "Hello there"})
    assert response.status_code in (200, 201), response.json()
    assert response.json()["sources"] == []
    assert response.json()["response"]
