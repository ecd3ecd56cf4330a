"""Passwordless sign-in by a 6-digit code sent by email (seed 004)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache

from tests.accounts.helpers import ME, MFA_VERIFY, assert_envelope, bearer, totp_now
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REQUEST = "/api/v1/auth/code/request"
VERIFY = "/api/v1/auth/code/verify"


def _request(client, email: str):
    return client.post(REQUEST, {"email": email}, format="json")


def _verify(client, email: str, code: str):
    return client.post(VERIFY, {"email": email, "code": code}, format="json")


def _mailed_code() -> str:
    message = mail.outbox[-1]
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    assert match.group(1) in message.alternatives[0][0]
    return match.group(1)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_login_end_to_end(api_client, user):
    response = _request(api_client, user.email)
    assert response.status_code == 202
    assert mail.outbox[-1].to == [user.email]
    code = _mailed_code()
    assert code in mail.outbox[-1].subject
    body = _verify(api_client, user.email.upper(), code).json()
    assert body["user"]["email"] == user.email
    assert bearer(body["access"]).get(ME).status_code == 200


def test_code_is_stored_hashed(api_client, user):
    _request(api_client, user.email)
    code = _mailed_code()
    from accounts.lifecycle import _code_key

    stored = cache.get(_code_key(user.email))
    assert stored is not None and code not in repr(stored)
    assert len(stored["hash"]) == 64


def test_code_is_single_use(api_client, user):
    _request(api_client, user.email)
    code = _mailed_code()
    assert _verify(api_client, user.email, code).status_code == 200
    assert_envelope(_verify(api_client, user.email, code), 401, "INVALID_CODE")


def test_code_expires_after_ten_minutes(api_client, user, clock):
    _request(api_client, user.email)
    code = _mailed_code()
    clock.shift(timedelta(minutes=10, seconds=1))
    assert_envelope(_verify(api_client, user.email, code), 401, "INVALID_CODE")


def test_code_works_within_ten_minutes(api_client, user, clock):
    _request(api_client, user.email)
    code = _mailed_code()
    clock.shift(timedelta(minutes=9, seconds=50))
    assert _verify(api_client, user.email, code).status_code == 200


def test_five_wrong_attempts_spend_the_code(api_client, user, settings):
    # The login throttle (5/min per account) would stop the sixth try on its own: lift it to
    # show that the code itself is spent.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "100/min"},
    }
    _request(api_client, user.email)
    code = _mailed_code()
    for _ in range(5):
        assert_envelope(_verify(api_client, user.email, _wrong(code)), 401, "INVALID_CODE")
    # Even the right code is refused now: a new one must be requested.
    assert_envelope(_verify(api_client, user.email, code), 401, "INVALID_CODE")
    _request(api_client, user.email)
    assert _verify(api_client, user.email, _mailed_code()).status_code == 200


def test_fourth_wrong_attempt_leaves_a_last_chance(api_client, user):
    _request(api_client, user.email)
    code = _mailed_code()
    for _ in range(4):
        _verify(api_client, user.email, _wrong(code))
    assert _verify(api_client, user.email, code).status_code == 200


def test_a_new_code_replaces_the_old_one(api_client, user):
    _request(api_client, user.email)
    first = _mailed_code()
    _request(api_client, user.email)
    second = _mailed_code()
    if first != second:
        assert_envelope(_verify(api_client, user.email, first), 401, "INVALID_CODE")
    assert _verify(api_client, user.email, second).status_code == 200


def test_no_enumeration(api_client, user, settings):
    # Closed registration: an unknown address may not sign up by code, so it gets no mail.
    settings.REGISTRATION_OPEN = False
    suspended = UserFactory(is_active=False)
    known = _request(api_client, user.email)
    unknown = _request(api_client, "nobody@example.com")
    inactive = _request(api_client, suspended.email)
    assert known.status_code == unknown.status_code == inactive.status_code == 202
    assert known.json() == unknown.json() == inactive.json()
    assert [m.to for m in mail.outbox] == [[user.email]]
    # Verifying against an unknown address looks exactly like a wrong code.
    a = _verify(api_client, "nobody@example.com", "123456").json()
    b = _verify(api_client, user.email, _wrong(_mailed_code())).json()
    assert (a["code"], a["message"]) == (b["code"], b["message"])


def test_code_login_still_asks_for_mfa(api_client, mfa_user):
    user, secret, _codes = mfa_user
    _request(api_client, user.email)
    body = _verify(api_client, user.email, _mailed_code()).json()
    assert body["mfa_required"] is True and "access" not in body
    done = api_client.post(
        MFA_VERIFY, {"mfa_token": body["mfa_token"], "code": totp_now(secret)}, format="json"
    )
    assert done.status_code == 200 and "access" in done.json()


def test_code_login_verifies_the_address(api_client):
    user = UserFactory(is_verified=False)
    _request(api_client, user.email)
    assert _verify(api_client, user.email, _mailed_code()).json()["user"]["is_verified"] is True


def test_suspended_after_request_cannot_log_in(api_client, user):
    _request(api_client, user.email)
    code = _mailed_code()
    user.is_active = False
    user.save()
    assert_envelope(_verify(api_client, user.email, code), 401, "INVALID_CODE")


def test_code_login_can_be_switched_off(api_client, user, settings):
    settings.EMAIL_CODE_LOGIN = False
    assert_envelope(_request(api_client, user.email), 403, "CODE_LOGIN_DISABLED")
    assert_envelope(_verify(api_client, user.email, "123456"), 403, "CODE_LOGIN_DISABLED")
    assert mail.outbox == []


def test_code_request_is_throttled_per_address(api_client, user, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "account_email": "2/hour"},
    }
    assert _request(api_client, user.email).status_code == 202
    assert _request(api_client, user.email).status_code == 202
    assert_envelope(_request(api_client, user.email), 429, "RATE_LIMITED")
    assert len(mail.outbox) == 2


def test_code_verify_is_throttled_like_login(api_client, user, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "3/min"},
    }
    for _ in range(3):
        _verify(api_client, user.email, "000000")
    assert_envelope(_verify(api_client, user.email, "000000"), 429)


def test_malformed_code_is_a_validation_error(api_client, user):
    body = assert_envelope(_verify(api_client, user.email, "12ab"), 400, "VALIDATION_ERROR")
    assert "code" in body["details"]
