"""The browser's refresh token as an HttpOnly cookie (issue 22, item 10), beside the JSON
refresh that API clients keep using."""

import pytest
from rest_framework.test import APIClient

from accounts.api.refresh_cookie import COOKIE_NAME, COOKIE_PATH, MARKER_NAME

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"


def _browser() -> tuple[APIClient, str]:
    """A client that enforces CSRF like a browser session, and the page's CSRF token."""
    client = APIClient(enforce_csrf_checks=True)
    client.get("/")  # the chat page sets the csrftoken cookie
    return client, client.cookies["csrftoken"].value


def _login(client: APIClient, user, password: str) -> dict:
    response = client.post(
        LOGIN,
        {"email": user.email, "password": password},
        format="json",
        HTTP_X_REFRESH_COOKIE="1",
    )
    assert response.status_code == 200, response.data
    return response.data


def test_login_with_the_header_puts_the_refresh_token_in_a_strict_httponly_cookie(user, password):
    client, _ = _browser()
    data = _login(client, user, password)
    assert "refresh" not in data and data["refresh_in_cookie"] is True
    assert data["access"]
    cookie = client.cookies[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == COOKIE_PATH
    assert int(cookie["max-age"]) > 0
    # The readable marker holds no secret.
    assert client.cookies[MARKER_NAME].value == "1"
    assert not client.cookies[MARKER_NAME]["httponly"]


def test_without_the_header_the_json_pair_is_unchanged(user, password):
    client = APIClient()
    data = client.post(LOGIN, {"email": user.email, "password": password}, format="json").data
    assert data["refresh"] and COOKIE_NAME not in client.cookies
    # API clients refresh with the JSON body, as before.
    response = client.post(REFRESH, {"refresh": data["refresh"]}, format="json")
    assert response.status_code == 200 and response.data["refresh"]


def test_a_second_tab_refreshes_from_the_cookie_with_the_csrf_token(user, password):
    client, csrf = _browser()
    _login(client, user, password)
    first_cookie = client.cookies[COOKIE_NAME].value

    # Without the CSRF token (a cross-site form would have none): refused, nothing rotated.
    response = client.post(REFRESH, {}, format="json")
    assert response.status_code == 403, response.data
    assert response.data["code"] == "CSRF_FAILED"
    # A foreign origin with the right token is refused too.
    response = client.post(
        REFRESH, {}, format="json", HTTP_X_CSRFTOKEN=csrf, HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 403

    response = client.post(REFRESH, {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200, response.data
    assert response.data["access"] and "refresh" not in response.data
    rotated = client.cookies[COOKIE_NAME].value
    assert rotated != first_cookie
    assert client.get(ME, HTTP_AUTHORIZATION=f"Bearer {response.data['access']}").status_code == 200

    # The spent token is refused (rotation), the current one works.
    stale = APIClient(enforce_csrf_checks=True)
    stale.cookies["csrftoken"] = csrf
    stale.cookies[COOKIE_NAME] = first_cookie
    assert stale.post(REFRESH, {}, format="json", HTTP_X_CSRFTOKEN=csrf).status_code == 401


def test_logout_through_the_cookie_ends_the_session_on_the_server(user, password):
    client, csrf = _browser()
    access = _login(client, user, password)["access"]
    token = client.cookies[COOKIE_NAME].value

    assert client.delete(REFRESH).status_code == 403  # CSRF again
    response = client.delete(REFRESH, HTTP_X_CSRFTOKEN=csrf, HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 204
    assert client.cookies[COOKIE_NAME].value == ""  # cleared
    assert client.cookies[MARKER_NAME].value == ""
    # Every tab's next refresh fails: the refresh token is blacklisted; the access token of
    # the logging-out tab is revoked at once.
    replay = APIClient(enforce_csrf_checks=True)
    replay.cookies["csrftoken"] = csrf
    replay.cookies[COOKIE_NAME] = token
    assert replay.post(REFRESH, {}, format="json", HTTP_X_CSRFTOKEN=csrf).status_code == 401
    assert APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401


def test_refresh_without_cookie_or_body_is_a_validation_error():
    response = APIClient().post(REFRESH, {}, format="json")
    assert response.status_code == 400
    assert response.data["code"] == "VALIDATION_ERROR"
