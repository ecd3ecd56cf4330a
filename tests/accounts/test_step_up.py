"""Step-up: changes that could take an account over ask for the current password again.

A stolen access token alone must not enrol the thief's authenticator, turn MFA off, replace
the backup codes, mint a lasting API key or redirect the account's email. The rule lives in the
services (every door), and a wrong password counts towards the login lock-out.
"""

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import apikeys, mfa
from accounts.models import ApiKey, User
from accounts.stepup import IncorrectPasswordError
from ops.models import AuditEvent
from tests.accounts.helpers import assert_envelope, bearer, login, totp_now
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ENABLE = "/api/v1/auth/mfa/enable"
CONFIRM = "/api/v1/auth/mfa/confirm"
DISABLE = "/api/v1/auth/mfa/disable"
BACKUP = "/api/v1/auth/mfa/backup-codes"
KEYS = "/api/v1/users/me/api-keys"
WRONG = "not my password at all"


def _refused(response, field: str = "password") -> None:
    body = assert_envelope(response, 403, "INVALID_PASSWORD")
    assert body["details"] == {field: ["The current password is not correct."]}


def test_mfa_enable_needs_the_password(user_client, user, password):
    assert "password" in assert_envelope(user_client.post(ENABLE), 400)["details"]
    _refused(user_client.post(ENABLE, {"password": WRONG}, format="json"))
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert user_client.post(ENABLE, {"password": password}, format="json").status_code == 200


def test_mfa_confirm_needs_the_password(user_client, user, password):
    setup = user_client.post(ENABLE, {"password": password}, format="json").json()
    code = totp_now(setup["secret"])
    assert (
        "password"
        in assert_envelope(user_client.post(CONFIRM, {"code": code}, format="json"), 400)["details"]
    )
    _refused(user_client.post(CONFIRM, {"code": code, "password": WRONG}, format="json"))
    assert not mfa.user_has_mfa(user=user)
    confirmed = user_client.post(CONFIRM, {"code": code, "password": password}, format="json")
    assert confirmed.status_code == 200
    assert mfa.user_has_mfa(user=user)


def test_backup_codes_need_the_password(user_client, mfa_user):
    user, secret, _codes = mfa_user
    before = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    _refused(user_client.post(BACKUP, {"code": totp_now(secret), "password": WRONG}, format="json"))
    after = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert after == before


def test_disable_with_a_wrong_password_keeps_mfa(user_client, mfa_user):
    user, secret, _codes = mfa_user
    _refused(
        user_client.post(DISABLE, {"code": totp_now(secret), "password": WRONG}, format="json")
    )
    assert mfa.user_has_mfa(user=user)


def test_api_key_creation_needs_the_password(user_client, user, password):
    assert (
        "password"
        in assert_envelope(user_client.post(KEYS, {"name": "script"}, format="json"), 400)[
            "details"
        ]
    )
    _refused(user_client.post(KEYS, {"name": "script", "password": WRONG}, format="json"))
    assert not ApiKey.objects.filter(user=user).exists()
    created = user_client.post(KEYS, {"name": "script", "password": password}, format="json")
    assert created.status_code == 201


def test_the_rule_is_in_the_services_not_only_the_views(user, password):
    """Any door (console, command, task) calling the services gets the same rule."""
    with pytest.raises(IncorrectPasswordError):
        mfa.mfa_enable(user=user, password=WRONG)
    with pytest.raises(IncorrectPasswordError):
        apikeys.api_key_create(user=user, name="x", password="")
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not ApiKey.objects.filter(user=user).exists()


def test_forced_enrolment_asks_for_the_password_too(api_client, admin_user, password, settings):
    """An enrolment-only token (MFA_REQUIRED_ROLES) is a token too: it may be stolen."""
    settings.MFA_REQUIRED_ROLES = ["admin"]
    enrolment = bearer(login(api_client, admin_user.email, password).json()["enrollment_token"])
    _refused(enrolment.post(ENABLE, {"password": WRONG}, format="json"))
    setup = enrolment.post(ENABLE, {"password": password}, format="json").json()
    confirmed = enrolment.post(
        CONFIRM, {"code": totp_now(setup["secret"]), "password": password}, format="json"
    )
    assert "tokens" in confirmed.json()


def test_wrong_step_up_passwords_count_towards_the_lock_out(
    user_client, user, password, api_client, settings
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    for _ in range(3):
        _refused(user_client.post(KEYS, {"name": "x", "password": WRONG}, format="json"))
    # The account is now locked: the right password fails everywhere for a while.
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")
    right = user_client.post(ENABLE, {"password": password}, format="json")
    assert_envelope(right, 429, "LOCKED_OUT")
    failures = AuditEvent.objects.filter(action="step_up_failed", actor=user)
    assert failures.count() == 3
    assert failures.order_by("-pk").first().details["purpose"] == "api_key_create"
    assert WRONG not in str(list(failures.values_list("details", flat=True)))


def test_password_change_failure_counts_too(user_client, user, password, api_client, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    for _ in range(2):
        response = user_client.post(
            "/api/v1/users/me/password",
            {"current_password": WRONG, "new_password": "a brand new passphrase 9"},
            format="json",
        )
        _refused(response, field="current_password")
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")


def test_admin_email_change_needs_the_admins_password(admin_client_api, admin_user, password):
    """users/me cannot change the email at all; the admin API can, with a step-up."""
    member = UserFactory()
    url = f"/api/v1/users/{member.pk}"
    refused = admin_client_api.patch(url, {"email": "thief@example.com"}, format="json")
    _refused(refused, field="current_password")
    _refused(
        admin_client_api.patch(
            url, {"email": "thief@example.com", "current_password": WRONG}, format="json"
        ),
        field="current_password",
    )
    member.refresh_from_db()
    assert member.email != "thief@example.com"
    # Other fields need no step-up; the same email (any case) is no change.
    same = admin_client_api.patch(
        url, {"email": member.email.upper(), "full_name": "Renamed"}, format="json"
    )
    assert same.status_code == 200
    moved = admin_client_api.patch(
        url, {"email": "moved@example.com", "current_password": password}, format="json"
    )
    assert moved.status_code == 200
    assert User.objects.get(pk=member.pk).email == "moved@example.com"


def test_profile_update_never_changes_the_email(user_client, user):
    original = user.email
    response = user_client.patch("/api/v1/users/me", {"email": "x@example.com"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == original
