"""``manage.py check_ai``: one embedding and one completion, with latency and tokens."""

import io

import pytest
from django.core.management import CommandError, call_command


def _run() -> str:
    out = io.StringIO()
    call_command("check_ai", stdout=out)
    return out.getvalue()


def test_check_ai_offline(settings):
    settings.AI_PROVIDER = "offline"
    output = _run()
    assert "provider: offline" in output
    assert "embedding: model=offline-hashed dimensions=1536" in output
    assert "completion: model=offline-extractive" in output and "(estimated)" in output
    assert "AI provider OK" in output


def test_check_ai_against_openai_compatible_server(settings, fake_openai):
    fake_openai.configure(settings, mode="openai")
    output = _run()
    assert "provider: openai" in output
    assert "completion: model=fake-chat" in output and "completion_tokens=5 (reported)" in output
    assert "latency_ms=" in output
    paths = [r.path for r in fake_openai.received]
    assert paths == ["/v1/embeddings", "/v1/chat/completions"]


def test_check_ai_failure_is_a_command_error(settings, fake_openai):
    fake_openai.configure(settings, mode="azure")
    settings.AI_MAX_RETRIES = 0
    fake_openai.fail(500)
    with pytest.raises(CommandError, match="server_error"):
        _run()
