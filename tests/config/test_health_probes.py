"""/health/detailed asks the vector store and the model provider for real."""

import fcntl
import os

import pytest

from ai.health import provider_probe_reset
from ai.vectorstore import reset_vector_stores
from ai.vectorstore.edge import LOCK_FILE
from tests.fakes import Script

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_probes():
    provider_probe_reset()
    yield
    provider_probe_reset()


def _embedding_calls(fake) -> int:
    return sum(1 for r in fake.received if r.path.endswith("embeddings"))


def test_provider_probe_reports_an_outage_and_is_cached(client, fake_openai, settings):
    fake_openai.configure(settings)
    settings.AI_MAX_RETRIES = 0
    settings.HEALTH_PROVIDER_PROBE_SECONDS = 60
    fake_openai.default = Script(status=500)

    first = client.get("/health/detailed")
    assert first.status_code == 503, first.json()
    assert first.json()["failing"] == ["ai_provider"]
    assert first.json()["checks"]["ai_provider"]["error"] == "ProviderError"
    calls = _embedding_calls(fake_openai)
    assert calls == 1

    # Polled again within the TTL: the outcome is reused, the provider is not called.
    assert client.get("/health/detailed").status_code == 503
    assert _embedding_calls(fake_openai) == calls

    # The provider is back; once the cached outcome expires the probe says so.
    fake_openai.default = Script()
    settings.HEALTH_PROVIDER_PROBE_SECONDS = 0
    provider_probe_reset()
    recovered = client.get("/health/detailed")
    assert recovered.status_code == 200, recovered.json()
    check = recovered.json()["checks"]["ai_provider"]
    assert check["status"] == "up" and check["provider"] == "openai"
    assert check["embedding_model"] == "fake-embed"
    assert _embedding_calls(fake_openai) == calls + 1


def test_vector_store_held_by_another_process_is_down(client, settings, tmp_path):
    reset_vector_stores()
    settings.QDRANT_BACKEND = "edge"
    settings.QDRANT_PATH = tmp_path / "qdrant"
    settings.QDRANT_PATH.mkdir()
    # Another holder of the index folder's lock (a second descriptor conflicts like a second
    # process would: flock belongs to the open file description).
    fd = os.open(settings.QDRANT_PATH / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        response = client.get("/health/detailed")
        assert response.status_code == 503, response.json()
        assert response.json()["failing"] == ["qdrant"]
        assert response.json()["checks"]["qdrant"]["error"] == "EmbeddedStoreLockedError"
    finally:
        os.close(fd)
    up = client.get("/health/detailed").json()["checks"]["qdrant"]
    assert up["status"] == "up" and up["backend"] == "edge" and up["points"] == 0
    reset_vector_stores()
