"""Account lifecycle end to end: forgot/reset password, change, logout-all, email verification.

Links are read from the mail the locmem backend caught, exactly as a user would follow them.
"""

import re
import smtplib
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.core import mail

from accounts.models import User
from tests.accounts.helpers import ME, MFA_VERIFY, assert_envelope, bearer, login, totp_now
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
CHANGE = "/api/v1/auth/password/change"
LOGOUT_ALL = "/api/v1/auth/logout-all"
VERIFY_REQUEST = "/api/v1/auth/email/verify/request"
VERIFY = "/api/v1/auth/email/verify"
NEW_PASSWORD = "a brand new passphrase 77"


def _link_param(message, name: str) -> str:
    """The ``?name=`` token of the link in a mail; the HTML part carries the same link."""
    match = re.search(rf"\?{name}=([^\s\"&<]+)", message.body)
    assert match, message.body
    html = message.alternatives[0][0]
    assert match.group(1) in html
    # A front end reads it with URLSearchParams, which decodes it.
    return unquote(match.group(1))


def _forgot(client, email: str):
    return client.post(FORGOT, {"email": email}, format="json")


# --- forgot / reset -------------------------------------------------------------------------


def test_forgot_and_reset_end_to_end(api_client, user, password, settings):
    settings.FRONTEND_URL = "https://chat.example.com/app/"
    old_session = login(api_client, user.email, password).json()

    response = _forgot(api_client, user.email.upper())
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert "reset" in message.subject.lower()
    assert "https://chat.example.com/app/?reset=" in message.body
    token = _link_param(message, "reset")

    assert api_client.post(RESET, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204
    # Every session ended: access and refresh tokens alike.
    assert bearer(old_session["access"]).get(ME).status_code == 401
    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": old_session["refresh"]})
    assert refreshed.status_code == 401
    # The new password works, the old one does not; the user is told by mail.
    assert login(api_client, user.email, password).status_code == 401
    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200
    assert "changed" in mail.outbox[-1].subject.lower()
    user.refresh_from_db()
    assert user.is_verified  # following the link proved the mailbox


def test_reset_link_is_single_use(api_client, user):
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    assert api_client.post(RESET, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204
    again = api_client.post(RESET, {"token": token, "new_password": "yet another passphrase 9"})
    assert_envelope(again, 400, "INVALID_OR_EXPIRED_TOKEN")


def test_reset_link_expires(api_client, user, clock, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    clock.shift(timedelta(hours=1, seconds=5))
    response = api_client.post(RESET, {"token": token, "new_password": NEW_PASSWORD})
    assert_envelope(response, 400, "INVALID_OR_EXPIRED_TOKEN")


def test_reset_link_dies_with_any_password_change(api_client, user, password):
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    access = login(api_client, user.email, password).json()["access"]
    changed = bearer(access).post(
        CHANGE, {"current_password": password, "new_password": "changed meanwhile 42"}
    )
    assert changed.status_code == 200
    response = api_client.post(RESET, {"token": token, "new_password": NEW_PASSWORD})
    assert_envelope(response, 400, "INVALID_OR_EXPIRED_TOKEN")


def test_reset_enforces_the_password_policy(api_client, user, password):
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    body = assert_envelope(api_client.post(RESET, {"token": token, "new_password": "123"}), 400)
    assert "password" in body["details"]
    assert login(api_client, user.email, password).status_code == 200  # unchanged


def test_tampered_reset_token_is_refused(api_client, user):
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    for bad in (token[:-2] + "xx", "garbage", "MQ.abc-def", ""):
        response = api_client.post(RESET, {"token": bad, "new_password": NEW_PASSWORD})
        assert response.status_code == 400


def test_reset_keeps_mfa(api_client, mfa_user):
    user, secret, _codes = mfa_user
    _forgot(api_client, user.email)
    token = _link_param(mail.outbox[0], "reset")
    assert api_client.post(RESET, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204
    body = login(api_client, user.email, NEW_PASSWORD).json()
    assert body["mfa_required"] is True and "access" not in body
    verified = api_client.post(
        MFA_VERIFY, {"mfa_token": body["mfa_token"], "code": totp_now(secret)}, format="json"
    )
    assert verified.status_code == 200


def test_forgot_does_not_reveal_accounts(api_client, user):
    known = _forgot(api_client, user.email)
    unknown = _forgot(api_client, "nobody@example.com")
    suspended = UserFactory(is_active=False)
    inactive = _forgot(api_client, suspended.email)
    assert known.status_code == unknown.status_code == inactive.status_code == 202
    assert known.json() == unknown.json() == inactive.json()
    assert [m.to for m in mail.outbox] == [[user.email]]


def _rates(settings, **rates):
    current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**current, **rates},
    }


def test_forgot_is_throttled_per_address(api_client, user, settings):
    _rates(settings, account_email="2/hour", account_email_ip="100/hour")
    assert _forgot(api_client, user.email).status_code == 202
    assert _forgot(api_client, user.email).status_code == 202
    # The third mail to one address is refused, whether or not the account exists.
    assert_envelope(_forgot(api_client, user.email), 429, "RATE_LIMITED")
    assert _forgot(api_client, "ghost@example.com").status_code == 202
    assert _forgot(api_client, "ghost@example.com").status_code == 202
    assert_envelope(_forgot(api_client, "ghost@example.com"), 429, "RATE_LIMITED")
    assert len(mail.outbox) == 2


def test_forgot_is_throttled_per_ip(api_client, settings):
    _rates(settings, account_email="100/hour", account_email_ip="3/hour")
    for n in range(3):
        assert _forgot(api_client, f"someone{n}@example.com").status_code == 202
    assert_envelope(_forgot(api_client, "another@example.com"), 429, "RATE_LIMITED")
    other_ip = api_client.post(
        FORGOT, {"email": "another@example.com"}, format="json", REMOTE_ADDR="10.9.9.9"
    )
    assert other_ip.status_code == 202


def test_failing_mail_server_never_breaks_the_request(api_client, user, settings, log_lines):
    settings.EMAIL_BACKEND = "tests.accounts.test_lifecycle.BrokenBackend"
    response = _forgot(api_client, user.email)
    assert response.status_code == 202
    assert response.json() == _forgot(api_client, "nobody@example.com").json()
    assert "email_send_failed" in log_lines.text


class BrokenBackend:
    """An email backend whose SMTP server refuses every message."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection refused")


def test_email_task_retries_on_workers(user, monkeypatch):
    """On workers the task retries with backoff instead of losing the mail."""
    from celery.exceptions import Retry

    from accounts import tasks

    monkeypatch.setattr(
        tasks, "email_deliver_now", lambda **kw: (_ for _ in ()).throw(smtplib.SMTPException())
    )
    monkeypatch.setattr(tasks.email_deliver, "retry", _raise_retry)
    with pytest.raises(Retry):
        tasks.email_deliver.run(to=user.email, subject="s", text="t", html="h", kind="test")


def _raise_retry(*args, **kwargs):
    from celery.exceptions import Retry

    raise Retry("retrying")


# --- change and logout-all ------------------------------------------------------------------


def test_password_change_keeps_this_session_and_ends_others(api_client, user, password):
    other = login(api_client, user.email, password).json()
    current = login(api_client, user.email, password).json()
    response = bearer(current["access"]).post(
        CHANGE, {"current_password": password, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    fresh = response.json()
    assert bearer(fresh["access"]).get(ME).status_code == 200
    assert bearer(other["access"]).get(ME).status_code == 401
    assert bearer(current["access"]).get(ME).status_code == 401
    assert api_client.post("/api/v1/auth/refresh", {"refresh": fresh["refresh"]}).status_code == 200
    assert "changed" in mail.outbox[-1].subject.lower()


def test_password_change_needs_the_current_password(user_client, user, password):
    response = user_client.post(CHANGE, {"current_password": "wrong", "new_password": NEW_PASSWORD})
    body = assert_envelope(response, 403, "INVALID_PASSWORD")
    assert "current_password" in body["details"]
    user.refresh_from_db()
    assert user.check_password(password)


def test_logout_all_ends_access_and_refresh_tokens(api_client, user, password):
    first = login(api_client, user.email, password).json()
    second = login(api_client, user.email, password).json()
    assert bearer(second["access"]).post(LOGOUT_ALL).status_code == 204
    for session in (first, second):
        assert bearer(session["access"]).get(ME).status_code == 401
        refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]})
        assert refreshed.status_code == 401
    assert login(api_client, user.email, password).status_code == 200


# --- email verification ---------------------------------------------------------------------


@pytest.fixture
def unverified(db):
    return UserFactory(is_verified=False)


@pytest.fixture
def unverified_client(unverified):
    from accounts.tokens import issue_tokens

    return bearer(issue_tokens(user=unverified)["access"])


def _verify_token(client) -> str:
    assert client.post(VERIFY_REQUEST).status_code == 202
    return _link_param(mail.outbox[-1], "verify")


def test_verify_email_end_to_end(unverified_client, api_client, unverified):
    assert unverified.is_verified is False
    token = _verify_token(unverified_client)
    assert mail.outbox[-1].to == [unverified.email]
    response = api_client.post(VERIFY, {"token": token})
    assert response.status_code == 200
    assert response.json()["is_verified"] is True
    assert unverified_client.get(ME).json()["is_verified"] is True
    # Single use: the link has done its job.
    assert_envelope(api_client.post(VERIFY, {"token": token}), 400, "INVALID_OR_EXPIRED_TOKEN")
    # Asking again once verified is a clear conflict, not another mail.
    assert_envelope(unverified_client.post(VERIFY_REQUEST), 409, "EMAIL_ALREADY_VERIFIED")


def test_verify_link_expires(unverified_client, api_client, clock, settings):
    settings.EMAIL_VERIFY_TIMEOUT = 3600
    token = _verify_token(unverified_client)
    clock.shift(timedelta(hours=1, seconds=5))
    assert_envelope(api_client.post(VERIFY, {"token": token}), 400, "INVALID_OR_EXPIRED_TOKEN")


def test_verify_link_is_for_the_address_it_was_sent_to(unverified_client, api_client, unverified):
    token = _verify_token(unverified_client)
    User.objects.filter(pk=unverified.pk).update(email="changed@example.com")
    assert_envelope(api_client.post(VERIFY, {"token": token}), 400, "INVALID_OR_EXPIRED_TOKEN")
    assert_envelope(api_client.post(VERIFY, {"token": "forged"}), 400)


def test_verify_request_needs_a_login(api_client):
    assert_envelope(api_client.post(VERIFY_REQUEST), 401)


def test_unverified_users_blocked_when_required(unverified_client, settings, api_client):
    settings.REQUIRE_VERIFIED_EMAIL = True
    settings.AI_PROVIDER = "offline"
    chat = unverified_client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert_envelope(chat, 403, "EMAIL_NOT_VERIFIED")
    upload = unverified_client.post("/api/v1/documents", {"file": _text_file()}, format="multipart")
    assert_envelope(upload, 403, "EMAIL_NOT_VERIFIED")
    # Reading stays possible, and the way out is open.
    assert unverified_client.get(ME).status_code == 200
    token = _verify_token(unverified_client)
    assert api_client.post(VERIFY, {"token": token}).status_code == 200
    chat = unverified_client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert chat.status_code in (200, 201), chat.content


def test_unverified_users_not_blocked_by_default(unverified_client, settings):
    settings.AI_PROVIDER = "offline"
    chat = unverified_client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert chat.status_code in (200, 201), chat.content


def _text_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("notes.txt", b"Some notes about foxes.", content_type="text/plain")
