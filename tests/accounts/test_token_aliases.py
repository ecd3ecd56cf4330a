"""Seed 000/002/003 client compatibility: ``refresh_token`` in, ``access_token`` out."""

import pytest

from tests.accounts.helpers import LOGIN, ME, REFRESH, assert_envelope, bearer, login

pytestmark = pytest.mark.django_db


def test_login_returns_access_token_and_refresh_token_aliases(api_client, user, password):
    body = login(api_client, user.email, password).json()
    assert body["access_token"] == body["access"]
    assert body["refresh_token"] == body["refresh"]
    assert body["token_type"] == "bearer"


def test_oauth2_form_login_answers_access_token(api_client, user, password):
    response = api_client.post(
        LOGIN,
        f"username={user.email}&password={password.replace(' ', '+')}&grant_type=password",
        content_type="application/x-www-form-urlencoded",
    )
    assert bearer(response.json()["access_token"]).get(ME).json()["id"] == user.pk


def test_refresh_accepts_refresh_token(api_client, user, password):
    first = login(api_client, user.email, password).json()
    response = api_client.post(REFRESH, {"refresh_token": first["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access_token"] == body["access"] and body["refresh_token"] == body["refresh"]
    # The same rotation as with ``refresh``: the old token is spent.
    again = api_client.post(REFRESH, {"refresh_token": first["refresh"]}, format="json")
    assert_envelope(again, 401)
    # Neither name: the error names the canonical field.
    body = assert_envelope(api_client.post(REFRESH, {}, format="json"), 400, "VALIDATION_ERROR")
    assert "refresh" in body["details"]
