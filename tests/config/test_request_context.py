"""Request ids, the access log line and secret redaction."""

import json

import pytest

from config.logging import redact_text

pytestmark = pytest.mark.django_db


def test_request_id_is_generated(client):
    response = client.get("/health")
    assert len(response["X-Request-ID"]) == 32


def test_sane_request_id_is_echoed(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123.def")
    assert response["X-Request-ID"] == "abc-123.def"


@pytest.mark.parametrize("bad", ["has space", "x" * 200, "a\u00e9b", "<script>"])
def test_insane_request_id_is_replaced(client, bad):
    response = client.get("/health", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


def test_access_line_carries_request_id_and_fields(client, log_lines, settings):
    client.get("/api/v1/", HTTP_X_REQUEST_ID="trace-me-42")
    lines = [line for line in log_lines.lines if "trace-me-42" in line]
    access = [line for line in lines if "request" in line and "duration_ms" in line]
    assert access, lines
    for field in ("method=", "route=", "status=", "duration_ms=", "user_id="):
        assert field in access[0]


@pytest.mark.urls("tests.config.urls")
def test_access_line_has_user_id_when_authenticated(admin_client_api, admin_user, log_lines):
    admin_client_api.get("/api/v1/test/admin-only", HTTP_X_REQUEST_ID="trace-user-1")
    line = next(
        line for line in log_lines.lines if "duration_ms" in line and "trace-user-1" in line
    )
    assert "status=200" in line
    assert f"user_id={admin_user.pk}" in line


def test_query_string_secrets_never_reach_the_log(client, log_lines):
    client.get(
        "/api/v1/no-such?token=SECRET1&access_token=SECRET2&password=SECRET3&api_key=SECRET4&code=123456&page=2",
        HTTP_X_REQUEST_ID="redact-1",
    )
    out = log_lines.text
    assert "redact-1" in out
    for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "123456"):
        assert secret not in out


def test_redact_text_keeps_harmless_values():
    text = "GET /x?page=2&token=abc&q=hello Authorization: Bearer eyJabc.def"
    redacted = redact_text(text)
    assert "page=2" in redacted and "q=hello" in redacted
    assert "abc" not in redacted.replace("page", "") and "eyJabc" not in redacted


def test_json_log_format_renders_one_object_a_line():
    import logging

    import structlog

    from config.settings.logging import build_logging

    config = build_logging(level="INFO", fmt="json")
    formatter = structlog.stdlib.ProcessorFormatter(
        **{k: v for k, v in config["formatters"]["structured"].items() if k != "()"}
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello ?token=abc", None, None)
    line = formatter.format(record)
    data = json.loads(line)
    assert data["event"] == "hello ?token=***"
    assert data["level"] == "info"


@pytest.mark.parametrize(
    "text",
    [
        "GET /?verify=SECRET1 HTTP/1.1",  # the emailed verification link
        "GET /?reset=SECRET1&x=1",  # the emailed reset link
        "/x?apikey=SECRET1",
        "/x?sessionid=SECRET1",
        "/x?token_hash=SECRET1",
        "/login?next=%2Fws%2F%3Ftoken%3DSECRET1",  # a secret inside an encoded URL
    ],
)
def test_redact_text_covers_links_and_encoded_urls(text):
    assert "SECRET1" not in redact_text(text)


def test_stdlib_tracebacks_are_redacted_and_show_no_locals():
    """A traceback of a foreign (stdlib) record is rendered as text, then redacted."""
    import logging
    import sys

    import structlog

    from config.settings.logging import build_logging

    config = build_logging(level="INFO", fmt="console")
    formatter = structlog.stdlib.ProcessorFormatter(
        **{k: v for k, v in config["formatters"]["structured"].items() if k != "()"}
    )

    def fail(password: str) -> None:
        raise ValueError("bad url /x?token=SECRET2")

    secret = "SECRET" + "3"  # a local variable, as a password in a view would be
    try:
        fail(secret)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", None, exc_info)
    line = formatter.format(record)
    assert "ValueError" in line
    assert "SECRET2" not in line and "SECRET3" not in line
