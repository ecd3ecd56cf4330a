"""Liveness, readiness and metrics."""

import pytest

pytestmark = pytest.mark.django_db


def test_health_liveness(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_seconds"] >= 0


def test_health_detailed_all_up(client):
    response = client.get("/health/detailed")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "qdrant", "ai_provider"}
    for check in body["checks"].values():
        assert check["status"] == "up"
        assert check["latency_ms"] >= 0
    assert body["failing"] == []


def test_health_detailed_503_when_redis_is_unreachable(client, settings):
    dead = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [dead]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/health/detailed")
    finally:
        channel_layers.backends.clear()
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["cache", "channel_layer"]
    assert body["checks"]["cache"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_health_detailed_names_a_misconfigured_provider(client, settings):
    settings.AI_PROVIDER = "azure"
    settings.AZURE_OPENAI_ENDPOINT = ""
    response = client.get("/health/detailed")
    assert response.status_code == 503
    assert response.json()["failing"] == ["ai_provider"]


def test_metrics_from_loopback(client):
    client.get("/health")
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    assert "http_requests_total" in text
    assert 'route="/health"' in text


def test_metrics_refused_from_elsewhere_without_token(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"


def test_metrics_with_token(client, settings):
    settings.METRICS_TOKEN = "metrics-secret"
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer metrics-secret"
    )
    assert response.status_code == 200
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
