"""Seed 003's generation routes under /api/v1/ai/ on the shared generation service."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync

from ai.models import Generation, GenerationRating
from ai.providers import ChatResult, ProviderError, Usage
from ai.providers.offline import OfflineProvider
from metering.models import Quota, QuotaReservation, ReservationStatus, UsageRecord
from ops.models import AuditEvent
from tests.fakes import Script

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(fake_openai, settings):
    fake_openai.configure(settings)
    return fake_openai


def test_generate_keeps_history_meters_and_audits(user, user_client, fake):
    fake.script(text="An idea about tea.")
    response = user_client.post("/api/v1/ai/generate", {"prompt": "Give me an idea"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["prompt"], body["response"], body["status"]) == (
        "Give me an idea",
        "An idea about tea.",
        "complete",
    )
    record = UsageRecord.objects.get(user=user)
    assert (record.kind, record.completion_tokens) == ("chat", 4)
    reservation = QuotaReservation.objects.get(user=user)
    assert reservation.status == ReservationStatus.SETTLED
    assert reservation.charged_tokens == record.total_tokens
    event = AuditEvent.objects.get(actor=user, action="ai_generation")
    assert event.details["door"] == "ai_generate"


def test_batch_keeps_partial_results_when_one_item_fails(user, user_client, fake, settings):
    settings.AI_BATCH_CONCURRENCY = 1  # items reach the fake in order: the 2nd one fails
    fake.script(Script(text="first"), Script(status=400), Script(text="third"))
    response = user_client.post(
        "/api/v1/ai/generate/batch", {"prompts": ["a", "b", "c"]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    results = body["results"]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[0]["generation"]["response"] == "first"
    assert results[1]["error"]["kind"] == "bad_request"
    assert results[2]["generation"]["response"] == "third"
    assert Generation.objects.filter(user=user).count() == 2
    # One reservation for the whole batch, charged with what the two answers used.
    reservation = QuotaReservation.objects.get(user=user)
    records = list(UsageRecord.objects.filter(user=user))
    assert len(records) == 3
    ok_tokens = sum(r.total_tokens for r in records if r.completion_tokens)
    assert reservation.status == ReservationStatus.SETTLED
    assert reservation.charged_tokens == ok_tokens


def test_batch_refused_by_quota_before_any_call(user, user_client, fake):
    Quota.objects.create(user=user, daily_tokens=300)
    payload = {"prompts": ["a", "b", "c"], "max_tokens": 100}
    response = user_client.post("/api/v1/ai/generate/batch", payload, format="json")
    assert response.status_code == 429
    assert response.json()["code"] == "QUOTA_EXCEEDED"
    assert "Retry-After" in response.headers
    assert fake.chat_requests() == []
    assert not QuotaReservation.objects.filter(user=user).exists()
    # One of the same prompts fits: it is the batch as a whole that was refused.
    single = user_client.post(
        "/api/v1/ai/generate", {"prompt": "a", "max_tokens": 100}, format="json"
    )
    assert single.status_code == 201


class _CountingProvider(OfflineProvider):
    """Records how many answers run at once."""

    def __init__(self, tracker: dict) -> None:
        super().__init__(dimensions=8)
        self.tracker = tracker

    async def generate_response(self, messages, *, model=None, max_tokens=None, sampling=None):
        self.tracker["now"] += 1
        self.tracker["max"] = max(self.tracker["max"], self.tracker["now"])
        try:
            await asyncio.sleep(0.05)  # long enough for the others to start if allowed
            if "boom" in messages[-1].content:
                raise ProviderError("failed", kind="server_error")
            return ChatResult(text="ok", model=self.chat_model, usage=Usage(3, 1))
        finally:
            self.tracker["now"] -= 1


def test_batch_concurrency_is_bounded(user, user_client, settings, monkeypatch):
    settings.AI_PROVIDER = "offline"
    settings.AI_BATCH_CONCURRENCY = 2
    tracker = {"now": 0, "max": 0}
    monkeypatch.setattr(
        "chat.completions.steps.get_provider", lambda **_: _CountingProvider(tracker)
    )
    prompts = [f"p{i}" for i in range(6)] + ["boom"]
    response = user_client.post("/api/v1/ai/generate/batch", {"prompts": prompts}, format="json")
    assert response.status_code == 200, response.content
    assert tracker["max"] == 2
    assert response.json()["succeeded"] == 6


def test_batch_size_is_bounded(user_client, settings):
    settings.AI_BATCH_MAX_ITEMS = 2
    response = user_client.post(
        "/api/v1/ai/generate/batch", {"prompts": ["a", "b", "c"]}, format="json"
    )
    assert response.status_code == 400
    assert "prompts" in response.json()["details"]


def test_history_is_paginated_searchable_and_private(user, user_client, admin_user):
    for i in range(3):
        Generation.objects.create(user=user, prompt=f"tea {i}", response="green", model="m")
    Generation.objects.create(user=user, prompt="coffee", response="black", model="m")
    Generation.objects.create(user=admin_user, prompt="tea elsewhere", response="x", model="m")
    page = user_client.get("/api/v1/ai/ideas/history?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2
    assert page["results"][0]["prompt"] == "coffee"  # newest first
    found = user_client.get("/api/v1/ai/ideas/history?search=TEA").json()
    assert sorted(r["prompt"] for r in found["results"]) == ["tea 0", "tea 1", "tea 2"]
    assert user_client.get("/api/v1/ai/ideas/history?search=black").json()["count"] == 1


def test_rating_is_one_per_user_and_bounded(user, user_client, admin_user):
    mine = Generation.objects.create(user=user, prompt="p", response="r", model="m")
    theirs = Generation.objects.create(user=admin_user, prompt="p", response="r", model="m")
    url = f"/api/v1/ai/ideas/{mine.pk}/rate"
    first = user_client.post(url, {"stars": 4, "comment": "good"}, format="json")
    assert first.status_code == 200
    assert first.json()["rating"]["stars"] == 4
    again = user_client.post(url, {"stars": 2}, format="json")
    assert again.json()["rating"] == {**again.json()["rating"], "stars": 2, "comment": ""}
    assert GenerationRating.objects.filter(generation=mine).count() == 1
    for stars in (0, 6):
        assert user_client.post(url, {"stars": stars}, format="json").status_code == 400
    other = user_client.post(f"/api/v1/ai/ideas/{theirs.pk}/rate", {"stars": 5}, format="json")
    assert other.status_code == 404


def test_stream_generate_sends_events_and_keeps_the_answer(user, user_client, fake):
    fake.script(text="streamed idea here")
    response = user_client.get(
        "/api/v1/ai/stream/generate", {"prompt": "stream me"}, HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    raw = async_to_sync(collect)().decode()
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in raw.strip().split("\n\n")
    ]
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "end"
    assert "".join(d["content"] for n, d in events if n == "token") == "streamed idea here"
    generation = Generation.objects.get(pk=events[0][1]["id"])
    assert (generation.status, generation.response) == ("complete", "streamed idea here")
    assert QuotaReservation.objects.get(user=user).status == ReservationStatus.SETTLED


def test_stream_generate_requires_a_prompt(user_client, fake):
    response = user_client.get("/api/v1/ai/stream/generate", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_model_load_hosted_needs_no_load(user_client, fake):
    body = user_client.post("/api/v1/ai/models/fake-chat/load").json()
    assert (body["load_needed"], body["loaded"]) == (False, True)
    assert "no load needed" in body["detail"]
    assert user_client.post("/api/v1/ai/models/unknown-model/load").status_code == 404


def test_model_load_asks_ollama_to_keep_the_model(user_client, fake, settings):
    fake.ollama = True
    settings.AI_MODEL_KEEP_ALIVE = "10m"
    body = user_client.post("/api/v1/ai/models/fake-chat/load").json()
    assert (body["load_needed"], body["loaded"], body["model"]) == (True, True, "fake-chat")
    load = [r for r in fake.received if r.path == "/api/generate"]
    assert [r.body for r in load] == [{"model": "fake-chat", "keep_alive": "10m"}]


def test_model_load_failures_are_said_not_hidden(user_client, fake, settings):
    fake.ollama = True
    fake.ollama_load_status = 404  # Ollama has not pulled the model
    refused = user_client.post("/api/v1/ai/models/fake-chat/load")
    assert refused.status_code == 502
    assert "fake-chat" in refused.json()["message"]
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    unreachable = user_client.post("/api/v1/ai/models/fake-chat/load")
    assert unreachable.status_code == 502
    assert unreachable.json()["code"] == "AI_PROVIDER_ERROR"


def test_viewer_cannot_generate(viewer_client, fake):
    response = viewer_client.post("/api/v1/ai/generate", {"prompt": "x"}, format="json")
    assert response.status_code == 403
    assert fake.chat_requests() == []


def test_unknown_model_is_an_envelope_not_a_server_error(user_client, fake):
    """Found by schemathesis: a model outside the allow-list escaped as a 500."""
    for path, body in (
        ("/api/v1/ai/generate", {"prompt": "x", "model": "no-such-model"}),
        ("/api/v1/ai/generate/batch", {"prompts": ["x"], "model": "no-such-model"}),
    ):
        response = user_client.post(path, body, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "MODEL_NOT_ALLOWED"
    assert fake.chat_requests() == []
