"""The management console as a door: second factor, MFA-required roles, lock-out, audit,
no readable TOTP secrets, and no django-otp command that writes plain backup codes."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.models import Role
from ops.models import AuditEvent
from tests.accounts.helpers import assert_envelope, bearer, login, totp_now
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
INDEX = "/admin/"
CHANGELIST = "/admin/accounts/user/"


@pytest.fixture
def relaxed_rates(settings):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates.update(
        {"login": "1000/min", "login_ip": "1000/min", "mfa": "1000/min", "mfa_ip": "1000/min"}
    )
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def mfa_admin(admin_user, clock):
    """An admin with confirmed TOTP: (user, secret, backup codes); step 0 is used."""
    setup = mfa.mfa_enable(user=admin_user, password=DEFAULT_PASSWORD)
    codes = mfa.mfa_confirm(
        user=admin_user, code=totp_now(setup["secret"]), password=DEFAULT_PASSWORD
    )
    clock.shift(30)
    return admin_user, setup["secret"], codes


def _console_login(client: Client, email: str, password: str, code: str = "", **extra):
    data = {"username": email, "password": password, "otp_token": code, "next": INDEX}
    return client.post(ADMIN_LOGIN, data, **extra)


def _in_console(client: Client) -> bool:
    return client.get(INDEX).status_code == 200


# --- Item 2: the second factor and MFA_REQUIRED_ROLES ---------------------------------------


def test_admin_with_totp_cannot_log_in_with_the_password_alone(mfa_admin, password):
    user, secret, _codes = mfa_admin
    client = Client()
    response = _console_login(client, user.email, password)
    assert response.status_code == 200
    assert "enter the code from your authenticator app" in response.content.decode()
    assert not _in_console(client)
    response = _console_login(client, user.email, password, totp_now(secret))
    assert response.status_code == 302 and response["Location"] == INDEX
    assert _in_console(client)
    # The console's own pages still render on this site (templates/admin/index.html).
    assert 'id="ops-dashboard"' in client.get(INDEX).content.decode()
    event = AuditEvent.objects.filter(action="admin_login_succeeded").get()
    assert event.actor_id == user.pk and event.details["method"] == "password+totp"


def test_admin_console_accepts_a_hashed_backup_code_once(mfa_admin, password):
    user, _secret, codes = mfa_admin
    client = Client()
    assert _console_login(client, user.email, password, codes[0]).status_code == 302
    assert _in_console(client)
    again = Client()
    assert _console_login(again, user.email, password, codes[0]).status_code == 200
    assert not _in_console(again)
    assert AuditEvent.objects.filter(action="mfa_backup_code_used", actor_id=user.pk).count() == 1


def test_wrong_code_is_refused_and_audited(mfa_admin, password):
    user, _secret, _codes = mfa_admin
    client = Client()
    response = _console_login(client, user.email, password, "000000")
    assert response.status_code == 200 and not _in_console(client)
    event = AuditEvent.objects.get(action="admin_login_failed")
    assert event.details["reason"] == "bad_mfa_code" and event.target_id == str(user.pk)


def test_session_without_the_second_factor_is_not_a_console_session(mfa_admin):
    """A session that never passed the device (e.g. from before enrolment) is sent back to
    the login page."""
    user, _secret, _codes = mfa_admin
    client = Client()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith(ADMIN_LOGIN)


def test_mfa_required_role_without_a_device_must_enrol_first(settings, admin_user, password):
    settings.MFA_REQUIRED_ROLES = [Role.ADMIN]
    client = Client()
    response = _console_login(client, admin_user.email, password)
    assert response.status_code == 200
    html = response.content.decode()
    assert "requires two-factor authentication" in html and "auth/mfa/enable" in html
    assert not _in_console(client)
    assert AuditEvent.objects.get(action="admin_login_failed").details["reason"] == (
        "mfa_enrollment_required"
    )
    forced = Client()
    forced.force_login(admin_user)
    assert forced.get(INDEX).status_code == 302


def test_non_staff_user_is_refused_with_the_generic_message(user, password):
    client = Client()
    response = _console_login(client, user.email, password)
    assert response.status_code == 200
    assert "correct email and password for a staff account" in response.content.decode()
    assert AuditEvent.objects.get(action="admin_login_failed").details["reason"] == "not_staff"


# --- Item 3: the console shares the lock-out, audits every outcome --------------------------


def test_admin_login_locked_after_failures_even_with_the_right_password(
    settings, admin_user, password, relaxed_rates, api_client
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    client = Client()
    for _ in range(3):
        assert _console_login(client, admin_user.email, "wrong password").status_code == 200
    response = _console_login(client, admin_user.email, password, REMOTE_ADDR="10.20.0.1")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= settings.LOGIN_LOCKOUT_SECONDS
    assert "Too many failed attempts" in response.content.decode()
    assert not _in_console(client)
    # The same lock covers the API: one mechanism for every door.
    assert_envelope(login(api_client, admin_user.email, password), 429, "LOCKED_OUT")
    reasons = list(
        AuditEvent.objects.filter(action="admin_login_failed")
        .order_by("pk")
        .values_list("details__reason", flat=True)
    )
    assert reasons == ["bad_credentials"] * 3 + ["locked_out"]
    locked = AuditEvent.objects.filter(action="admin_login_failed").order_by("pk")[2]
    assert locked.details["locked_out"] is True and str(locked.ip) == "127.0.0.1"


def test_api_failures_lock_the_console_too(settings, admin_user, password, relaxed_rates):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    api = Client()
    for _ in range(2):
        api.post(
            "/api/v1/auth/login",
            {"email": admin_user.email, "password": "nope"},
            content_type="application/json",
        )
    client = Client()
    assert _console_login(client, admin_user.email, password).status_code == 429
    assert not _in_console(client)


def test_admin_login_is_rate_limited_like_the_api(settings, admin_user, password):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = Client()
    for _ in range(2):
        _console_login(client, admin_user.email, "wrong password")
    response = _console_login(client, admin_user.email, password)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert not _in_console(client)


def test_console_password_change_checks_under_the_lock_out(
    settings, admin_user, password, api_client, relaxed_rates
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    client = Client()
    assert _console_login(client, admin_user.email, password).status_code == 302
    access = login(api_client, admin_user.email, password).json()["access"]
    for _ in range(3):
        response = client.post(
            "/admin/password_change/",
            {
                "old_password": "wrong password",
                "new_password1": "a brand new passphrase",
                "new_password2": "a brand new passphrase",
            },
        )
        assert response.status_code == 200
    assert_envelope(login(api_client, admin_user.email, password), 429, "LOCKED_OUT")
    assert AuditEvent.objects.filter(action="step_up_failed").count() == 3
    # After the lock, a change with the right password goes through the service.
    from accounts.lockout import lockout_clear

    lockout_clear(account=admin_user.email)
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": password,
            "new_password1": "a brand new passphrase",
            "new_password2": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert _in_console(client)  # this console session stays
    assert_envelope(bearer(access).get("/api/v1/users/me"), 401)  # API sessions end
    assert AuditEvent.objects.filter(action="password_changed", actor_id=admin_user.pk).exists()


def test_api_password_change_counts_towards_the_lock_out(
    settings, user, password, api_client, relaxed_rates
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    access = login(api_client, user.email, password).json()["access"]
    client = bearer(access)
    for _ in range(3):
        response = client.post(
            "/api/v1/users/me/password",
            {"current_password": "wrong", "new_password": "a brand new passphrase"},
            format="json",
        )
        assert response.status_code == 403
    response = client.post(
        "/api/v1/users/me/password",
        {"current_password": password, "new_password": "a brand new passphrase"},
        format="json",
    )
    assert_envelope(response, 429, "LOCKED_OUT")
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")


# --- Item 5: no readable TOTP secrets; MFA reset stays, audited -----------------------------


def test_device_admins_are_gone_and_mfa_reset_stays(mfa_admin):
    user, secret, _codes = mfa_admin
    client = Client()
    client.force_login(user)
    from django_otp import DEVICE_ID_SESSION_KEY

    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    assert _in_console(client)
    key = TOTPDevice.objects.get(user=user).key
    for url in (
        "/admin/otp_totp/totpdevice/",
        f"/admin/otp_totp/totpdevice/{TOTPDevice.objects.get(user=user).pk}/change/",
        "/admin/otp_static/staticdevice/",
    ):
        assert client.get(url).status_code == 404, url
    index = client.get(INDEX).content.decode()
    assert "totpdevice" not in index.lower()
    page = client.get(f"{CHANGELIST}{user.pk}/change/").content.decode()
    assert key not in page and secret not in page
    # What the console offers instead: the audited "Reset MFA" action on users.
    target = UserFactory(email="lost.phone@example.com")
    setup = mfa.mfa_enable(user=target, password=DEFAULT_PASSWORD)
    mfa.mfa_confirm(user=target, code=totp_now(setup["secret"]), password=DEFAULT_PASSWORD)
    response = client.post(
        CHANGELIST, {"action": "reset_mfa", "_selected_action": [target.pk]}, follow=True
    )
    assert "MFA reset: 1 user(s)" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=target).exists()
    event = AuditEvent.objects.get(action="mfa_reset")
    assert event.actor_id == user.pk and event.target_id == str(target.pk)


# --- Item 13: django-otp's addstatictoken is gone -------------------------------------------


def test_addstatictoken_refuses_and_writes_no_plain_code(admin_user):
    with pytest.raises(CommandError, match="stores backup codes hashed"):
        call_command("addstatictoken", admin_user.email, "-t", "plaincode1")
    with pytest.raises(CommandError):
        call_command("addstatictoken", admin_user.email)
    assert not StaticToken.objects.exists()
