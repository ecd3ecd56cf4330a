"""Registration, login, refresh rotation, logout and password change."""

import time

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from tests.accounts.helpers import LOGIN, LOGOUT, ME, REFRESH, assert_envelope, bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"


def _register(client, **overrides):
    data = {
        "email": "Ada@Example.com",
        "username": "ada",
        "full_name": "Ada Lovelace",
        "password": "analytical engine 1843",
        **overrides,
    }
    return client.post(REGISTER, data, format="json")


# --- register -------------------------------------------------------------------------------


def test_register_creates_a_user_role_account_that_can_log_in(api_client):
    response = _register(api_client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ada@example.com"  # stored lower-cased
    assert body["role"] == "user"
    assert body["is_verified"] is False
    assert body["mfa_enabled"] is False
    assert "password" not in body
    assert login(api_client, "ada@example.com", "analytical engine 1843").status_code == 200


def test_register_ignores_role_and_activation_fields(api_client):
    response = _register(api_client, role="admin", is_verified=True, is_staff=True)
    assert response.status_code == 201
    user = User.objects.get(email="ada@example.com")
    assert (user.role, user.is_staff, user.is_superuser, user.is_verified) == (
        Role.USER,
        False,
        False,
        False,
    )


def test_register_rejects_duplicates_and_weak_passwords(api_client, user):
    body = assert_envelope(_register(api_client, email=user.email.upper()), 400, "VALIDATION_ERROR")
    assert "email" in body["details"]
    body = assert_envelope(_register(api_client, password="12345678"), 400, "VALIDATION_ERROR")
    assert "password" in body["details"]  # common and all-numeric
    body = assert_envelope(_register(api_client, password="short"), 400)
    assert "password" in body["details"]


def test_register_accepts_long_unicode_passphrases(api_client):
    passphrase = "ünïcødé pässphrase ✓ 日本語のパスワード " * 3
    assert _register(api_client, password=passphrase).status_code == 201
    assert login(api_client, "ada@example.com", passphrase).status_code == 200


def test_register_closed(api_client, settings):
    settings.REGISTRATION_OPEN = False
    assert_envelope(_register(api_client), 403, "REGISTRATION_CLOSED")
    assert not User.objects.filter(email="ada@example.com").exists()


# --- login ----------------------------------------------------------------------------------


def test_login_json_returns_tokens_and_user(api_client, user, password):
    response = login(api_client, user.email, password)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == user.email
    assert set(body["user"]) >= {"id", "role", "is_active", "mfa_enabled"}
    assert "password" not in str(body["user"])
    assert bearer(body["access"]).get(ME).json()["id"] == user.pk
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_oauth2_password_form(api_client, user, password):
    encoded = api_client.post(
        LOGIN,
        f"grant_type=password&username={user.email.upper()}&password={password.replace(' ', '+')}",
        content_type="application/x-www-form-urlencoded",
    )
    assert encoded.status_code == 200, encoded.content
    assert encoded.json()["access"]
    # The form is form-encoded only: multipart is for file uploads.
    multipart = api_client.post(
        LOGIN, {"username": user.email, "password": password}, format="multipart"
    )
    assert_envelope(multipart, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_access_token_carries_role_claim(api_client, admin_user, password):
    from rest_framework_simplejwt.tokens import AccessToken

    access = login(api_client, admin_user.email, password).json()["access"]
    assert AccessToken(access)["role"] == "admin"


def test_login_is_enumeration_safe(api_client, user, password):
    unknown = login(api_client, "nobody@example.com", "whatever password")
    wrong = login(api_client, user.email, "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    a, b = unknown.json(), wrong.json()
    for volatile in ("timestamp", "request_id"):
        a.pop(volatile), b.pop(volatile)
    assert a == b
    assert a["code"] == "INVALID_CREDENTIALS"


def test_unknown_email_costs_one_password_hash_like_a_wrong_password(api_client, user, monkeypatch):
    """Timing: both failures run the configured hasher exactly once."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls: list[str] = []
    original = MD5PasswordHasher.encode

    def counting(self, password, salt):
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    login(api_client, "nobody@example.com", "whatever password")
    unknown_calls = len(calls)
    calls.clear()
    login(api_client, user.email, "whatever password")
    assert unknown_calls == len(calls) == 1


def test_login_timing_is_similar_for_unknown_and_wrong(api_client, user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user.set_password("real password here")
    user.save()

    def timed(email):
        started = time.perf_counter()
        login(api_client, email, "wrong password")
        return time.perf_counter() - started

    settings.LOGIN_LOCKOUT_THRESHOLD = 1000
    unknown = min(timed("nobody@example.com") for _ in range(3))
    wrong = min(timed(user.email) for _ in range(3))
    # Generous bounds: the machine is shared; without the dummy hash the ratio is ~0.01.
    assert 0.33 < unknown / wrong < 3.0, (unknown, wrong)


def test_suspended_user_cannot_log_in(api_client, user, password):
    user.is_active = False
    user.save()
    assert_envelope(login(api_client, user.email, password), 403, "ACCOUNT_DISABLED")


def test_login_validation(api_client):
    body = assert_envelope(api_client.post(LOGIN, {}, format="json"), 400, "VALIDATION_ERROR")
    assert "password" in body["details"]


# --- refresh --------------------------------------------------------------------------------


def test_refresh_rotates_and_blacklists_the_old_token(api_client, user, password):
    tokens = login(api_client, user.email, password).json()
    response = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    new = response.json()
    assert new["refresh"] != tokens["refresh"]
    assert bearer(new["access"]).get(ME).status_code == 200
    again = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_envelope(again, 401, "INVALID_TOKEN")
    # the rotated one still works
    assert api_client.post(REFRESH, {"refresh": new["refresh"]}, format="json").status_code == 200


def test_refresh_token_is_not_an_access_token(api_client, user, password):
    tokens = login(api_client, user.email, password).json()
    assert_envelope(bearer(tokens["refresh"]).get(ME), 401)


def test_access_token_is_not_a_refresh_token(api_client, user, password):
    tokens = login(api_client, user.email, password).json()
    assert_envelope(api_client.post(REFRESH, {"refresh": tokens["access"]}, format="json"), 401)


def test_refresh_refused_for_suspended_user(api_client, user, password):
    tokens = login(api_client, user.email, password).json()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_envelope(api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_expired_access_token_fails(api_client, user, password, clock):
    tokens = login(api_client, user.email, password).json()
    clock.shift(31 * 60)
    assert_envelope(bearer(tokens["access"]).get(ME), 401)
    # the refresh token (7 days) still gets a new pair
    assert (
        api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200
    )


def test_signed_token_naming_no_user_fails(user):
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token["ver"] = user.token_version
    assert bearer(str(token)).get(ME).status_code == 200
    token[api_settings.USER_ID_CLAIM] = "not-a-number"
    body = assert_envelope(bearer(str(token)).get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] == "token_not_valid"
    token[api_settings.USER_ID_CLAIM] = user.pk + 1000
    body = assert_envelope(bearer(str(token)).get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] == "user_not_found"


@pytest.mark.parametrize("version", [None, "0", 0.0, True])
def test_token_without_an_integer_version_claim_is_refused(user, version):
    """``ver`` is required: a validly signed token that lacks it was not issued by us."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    assert user.token_version == 0 and "ver" not in token.payload
    if version is not None:
        token["ver"] = version
    body = assert_envelope(bearer(str(token)).get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] == "token_revoked"
    token["ver"] = 0
    assert bearer(str(token)).get(ME).status_code == 200


def test_refresh_token_without_version_claim_is_refused(api_client, user):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = RefreshToken.for_user(user)  # outstanding, signed, but without ``ver``
    response = api_client.post(REFRESH, {"refresh": str(refresh)}, format="json")
    assert response.status_code == 401


# --- logout ---------------------------------------------------------------------------------


def test_logout_kills_access_and_refresh_at_once(api_client, user, password):
    tokens = login(api_client, user.email, password).json()
    client = bearer(tokens["access"])
    assert client.get(ME).status_code == 200
    response = client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    body = assert_envelope(client.get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] == "token_revoked"
    assert_envelope(api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_logout_leaves_other_sessions_alone(api_client, user, password):
    first = login(api_client, user.email, password).json()
    second = login(api_client, user.email, password).json()
    bearer(first["access"]).post(LOGOUT, {"refresh": first["refresh"]}, format="json")
    assert bearer(second["access"]).get(ME).status_code == 200


def test_logout_refuses_someone_elses_refresh_token(api_client, user, password):
    other = UserFactory()
    mine = login(api_client, user.email, password).json()
    theirs = login(api_client, other.email, password).json()
    response = bearer(mine["access"]).post(LOGOUT, {"refresh": theirs["refresh"]}, format="json")
    assert_envelope(response, 401, "INVALID_TOKEN")
    assert (
        api_client.post(REFRESH, {"refresh": theirs["refresh"]}, format="json").status_code == 200
    )


def test_logout_requires_authentication(api_client):
    assert_envelope(api_client.post(LOGOUT, {"refresh": "x"}, format="json"), 401)


def test_logout_all_ends_every_session(api_client, user, password):
    first = login(api_client, user.email, password).json()
    second = login(api_client, user.email, password).json()
    assert bearer(first["access"]).post("/api/v1/auth/logout-all").status_code == 204
    for tokens in (first, second):
        assert_envelope(bearer(tokens["access"]).get(ME), 401)
        assert_envelope(
            api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401
        )


# --- password change ------------------------------------------------------------------------


def test_password_change_revokes_old_tokens_and_returns_new_ones(api_client, user, password):
    old = login(api_client, user.email, password).json()
    response = bearer(old["access"]).post(
        "/api/v1/users/me/password",
        {"current_password": password, "new_password": "a brand new passphrase"},
        format="json",
    )
    assert response.status_code == 200
    assert_envelope(bearer(old["access"]).get(ME), 401)
    assert bearer(response.json()["access"]).get(ME).status_code == 200
    assert login(api_client, user.email, password).status_code == 401
    assert login(api_client, user.email, "a brand new passphrase").status_code == 200


def test_password_change_needs_current_password(user_client):
    response = user_client.post(
        "/api/v1/users/me/password",
        {"current_password": "nope nope", "new_password": "a brand new passphrase"},
        format="json",
    )
    body = assert_envelope(response, 403, "INVALID_PASSWORD")
    assert "current_password" in body["details"]


def test_tokens_never_logged(api_client, user, password, log_lines):
    tokens = login(api_client, user.email, password).json()
    api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert tokens["access"] not in log_lines.text
    assert tokens["refresh"] not in log_lines.text
    assert password not in log_lines.text
    assert "login_succeeded" in log_lines.text


def test_anonymous_client_cannot_reach_me():
    assert_envelope(APIClient().get(ME), 401, "AUTHENTICATION_REQUIRED")
