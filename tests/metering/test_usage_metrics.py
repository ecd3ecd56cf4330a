"""Prometheus metrics of the AI path: TTFT, tokens/s, provider errors, quota rejections,
ingestion duration."""

import pytest
from prometheus_client import REGISTRY

from metering.models import Quota
from tests.ai.factories import edge_store_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
SEND = "/api/v1/chat/message"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_answer_observes_ttft_and_tokens_per_second(user_client):
    ttft = _value("ai_time_to_first_token_seconds_count", provider="offline")
    rate = _value("ai_completion_tokens_per_second_count", provider="offline")
    assert user_client.post(SEND, {"message": "hello there"}).status_code == 200
    assert _value("ai_time_to_first_token_seconds_count", provider="offline") == ttft + 1
    assert _value("ai_completion_tokens_per_second_count", provider="offline") == rate + 1


def test_provider_errors_are_counted_by_kind(settings, fake_openai, user_client):
    fake_openai.configure(settings, mode="openai")
    settings.AI_MAX_RETRIES = 0
    fake_openai.fail(429, retry_after=1)
    before = _value("ai_provider_errors_total", provider="openai", kind="rate_limited")
    assert user_client.post(SEND, {"message": "hello"}).status_code == 503
    assert _value("ai_provider_errors_total", provider="openai", kind="rate_limited") == before + 1


def test_quota_rejections_are_counted(settings, user_client, user):
    settings.AI_MAX_TOKENS = 100
    Quota.objects.create(user=user, daily_tokens=10)
    before = _value("ai_quota_rejections_total", reason="daily_tokens")
    assert user_client.post(SEND, {"message": "hello"}).status_code == 429
    assert _value("ai_quota_rejections_total", reason="daily_tokens") == before + 1


def test_metrics_endpoint_exposes_the_ai_metrics(client):
    text = client.get("/metrics").content.decode()
    for name in (
        "ai_time_to_first_token_seconds",
        "ai_completion_tokens_per_second",
        "ai_provider_errors_total",
        "ai_ingestion_duration_seconds",
        "ai_quota_rejections_total",
    ):
        assert f"# TYPE {name}" in text or f"# HELP {name}" in text


@pytest.mark.django_db(transaction=True)
def test_ingestion_duration_is_observed_by_outcome(user_client, edge_store):
    from tests.ai.factories import upload

    ready = _value("ai_ingestion_duration_seconds_count", outcome="ready")
    failed = _value("ai_ingestion_duration_seconds_count", outcome="failed")
    response = user_client.post(
        "/api/v1/documents", {"file": upload("a.txt", b"some words here")}, format="multipart"
    )
    assert response.status_code == 202
    bad = user_client.post(
        "/api/v1/documents", {"file": upload("b.pdf", b"%PDF-1.7\n garbage")}, format="multipart"
    )
    assert bad.status_code == 202
    assert _value("ai_ingestion_duration_seconds_count", outcome="ready") == ready + 1
    assert _value("ai_ingestion_duration_seconds_count", outcome="failed") == failed + 1
