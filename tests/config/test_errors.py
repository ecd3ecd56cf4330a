"""Every error status leaves the API in the one envelope."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.config.urls")]

ENVELOPE_KEYS = {"success", "message", "code", "details", "timestamp", "request_id"}


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["timestamp"], float)
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_400_validation_lists_field_errors(api_client):
    response = api_client.post("/api/v1/test/echo", {"name": "x" * 20}, format="json")
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert set(body["details"]) == {"name", "count"}
    assert "10" in body["details"]["name"][0]


def test_400_malformed_json(api_client):
    response = api_client.post("/api/v1/test/echo", "{not json", content_type="application/json")
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_401_without_credentials(api_client):
    assert_envelope(api_client.get("/api/v1/test/admin-only"), 401, "AUTHENTICATION_REQUIRED")


def test_401_with_garbage_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = api_client.get("/api/v1/test/admin-only")
    assert_envelope(response, 401, "AUTHENTICATION_FAILED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_403_for_non_admin(user_client):
    assert_envelope(user_client.get("/api/v1/test/admin-only"), 403, "PERMISSION_DENIED")


def test_admin_passes(admin_client_api):
    assert admin_client_api.get("/api/v1/test/admin-only").json() == {"ok": True}


def test_404_unknown_api_route(api_client):
    assert_envelope(api_client.get("/api/v1/no/such/route"), 404, "NOT_FOUND")


def test_404_outside_api_is_html(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


def test_405_wrong_method(api_client):
    body = assert_envelope(api_client.delete("/api/v1/test/echo"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["message"]


def test_413_body_over_limit(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = '{"name": "' + "a" * 5000 + '", "count": 1}'
    response = api_client.post("/api/v1/test/echo", payload, content_type="application/json")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_415_unsupported_media_type(api_client):
    response = api_client.post("/api/v1/test/echo", "<a/>", content_type="application/xml")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_429_with_retry_after(api_client):
    for _ in range(2):
        assert api_client.get("/api/v1/test/throttled").status_code == 200
    response = api_client.get("/api/v1/test/throttled")
    body = assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert body["details"]["retry_after"] == int(response["Retry-After"])


def test_500_leaks_nothing_and_is_logged_with_request_id(client, log_lines):
    client.raise_request_exception = False
    response = client.get("/api/v1/test/boom", HTTP_X_REQUEST_ID="boom-req-1")
    body = assert_envelope(response, 500, "INTERNAL_ERROR")
    raw = response.content.decode()
    assert "hunter2" not in raw and "RuntimeError" not in raw and "Traceback" not in raw
    assert body["request_id"] == "boom-req-1"
    logged = log_lines.text
    error_lines = [line for line in logged.splitlines() if "Internal Server Error" in line]
    assert error_lines and "boom-req-1" in error_lines[0]
    assert "RuntimeError" in logged, "the traceback is logged, not shown"
