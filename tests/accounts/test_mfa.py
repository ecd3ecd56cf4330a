"""TOTP enrolment, the second login step, backup codes, replay and forced enrolment."""

import pyotp
import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.helpers import (
    ME,
    MFA_VERIFY,
    REFRESH,
    assert_envelope,
    bearer,
    login,
    totp_now,
)

pytestmark = pytest.mark.django_db

ENABLE = "/api/v1/auth/mfa/enable"
CONFIRM = "/api/v1/auth/mfa/confirm"
DISABLE = "/api/v1/auth/mfa/disable"
BACKUP = "/api/v1/auth/mfa/backup-codes"


def _challenge(api_client, user, password) -> str:
    response = login(api_client, user.email, password)
    assert response.status_code == 200
    body = response.json()
    assert body == {"mfa_required": True, "mfa_token": body["mfa_token"]}
    return body["mfa_token"]


def test_enrolment_through_the_api(user_client, user, password, api_client, clock):
    response = user_client.post(ENABLE, {"password": password}, format="json")
    assert response.status_code == 200
    setup = response.json()
    assert setup["otpauth_url"].startswith("otpauth://totp/")
    assert f"secret={setup['secret']}" in setup["otpauth_url"]
    assert setup["qr_svg"].startswith("<svg")
    assert user_client.get(ME).json()["mfa_enabled"] is False  # not confirmed yet

    wrong = user_client.post(CONFIRM, {"code": "000000", "password": password}, format="json")
    assert_envelope(wrong, 401, "INVALID_MFA_CODE")
    confirm = user_client.post(
        CONFIRM, {"code": totp_now(setup["secret"]), "password": password}, format="json"
    )
    assert confirm.status_code == 200
    codes = confirm.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "tokens" not in confirm.json()
    assert user_client.get(ME).json()["mfa_enabled"] is True
    # enabling again is a conflict; the secret is never shown again
    assert_envelope(
        user_client.post(ENABLE, {"password": password}, format="json"), 409, "MFA_ALREADY_ENABLED"
    )
    assert setup["secret"] not in str(user_client.get(ME).json())

    clock.shift(30)
    token = _challenge(api_client, user, password)
    verified = api_client.post(
        MFA_VERIFY, {"mfa_token": token, "code": totp_now(setup["secret"])}, format="json"
    )
    assert verified.status_code == 200
    body = verified.json()
    assert body["token_type"] == "bearer" and body["user"]["mfa_enabled"] is True
    assert bearer(body["access"]).get(ME).status_code == 200


def test_confirm_without_enable_is_a_conflict(user_client, password):
    response = user_client.post(CONFIRM, {"code": "123456", "password": password}, format="json")
    assert_envelope(response, 409)


def test_login_with_mfa_gives_no_access_token(api_client, mfa_user, password):
    user, _secret, _codes = mfa_user
    response = login(api_client, user.email, password)
    assert "access" not in response.json() and "refresh" not in response.json()


def test_totp_code_cannot_be_replayed(api_client, mfa_user, password):
    user, secret, _codes = mfa_user
    code = totp_now(secret)
    first = api_client.post(
        MFA_VERIFY, {"mfa_token": _challenge(api_client, user, password), "code": code}
    )
    assert first.status_code == 200
    replay = api_client.post(
        MFA_VERIFY,
        {"mfa_token": _challenge(api_client, user, password), "code": code},
        format="json",
    )
    assert_envelope(replay, 401, "INVALID_MFA_CODE")


def test_totp_tolerates_one_step_of_drift_only(api_client, mfa_user, password, clock):
    user, secret, _codes = mfa_user
    totp = pyotp.TOTP(secret)
    import time

    previous = totp.at(time.time() - 30)  # the step confirm already used: stale
    too_old = totp.at(time.time() - 90)
    for code in (too_old, previous):
        response = api_client.post(
            MFA_VERIFY,
            {"mfa_token": _challenge(api_client, user, password), "code": code},
            format="json",
        )
        assert_envelope(response, 401, "INVALID_MFA_CODE")
    clock.shift(30)
    one_step_late = totp.at(time.time() - 30)
    ok = api_client.post(
        MFA_VERIFY,
        {"mfa_token": _challenge(api_client, user, password), "code": one_step_late},
        format="json",
    )
    assert ok.status_code == 200


def test_mfa_token_is_single_use(api_client, mfa_user, password, clock):
    user, secret, _codes = mfa_user
    token = _challenge(api_client, user, password)
    assert (
        api_client.post(MFA_VERIFY, {"mfa_token": token, "code": totp_now(secret)}).status_code
        == 200
    )
    clock.shift(30)
    again = api_client.post(MFA_VERIFY, {"mfa_token": token, "code": totp_now(secret)})
    assert_envelope(again, 401, "INVALID_TOKEN")


def test_mfa_token_expires_after_five_minutes(api_client, mfa_user, password, clock):
    user, secret, _codes = mfa_user
    token = _challenge(api_client, user, password)
    clock.shift(5 * 60 + 1)
    response = api_client.post(MFA_VERIFY, {"mfa_token": token, "code": totp_now(secret)})
    assert_envelope(response, 401, "INVALID_TOKEN")


def test_mfa_token_is_refused_as_bearer_and_as_refresh(api_client, mfa_user, password):
    user, _secret, _codes = mfa_user
    token = _challenge(api_client, user, password)
    body = assert_envelope(bearer(token).get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] == "token_not_valid"
    assert_envelope(api_client.post(REFRESH, {"refresh": token}, format="json"), 401)


def test_access_token_is_not_an_mfa_token(api_client, mfa_user, password):
    user, secret, _codes = mfa_user
    from accounts.tokens import issue_tokens

    access = issue_tokens(user=user)["access"]
    response = api_client.post(MFA_VERIFY, {"mfa_token": access, "code": totp_now(secret)})
    assert_envelope(response, 401, "INVALID_TOKEN")


def test_backup_code_logs_in_once(api_client, mfa_user, password):
    user, _secret, codes = mfa_user
    token = _challenge(api_client, user, password)
    response = api_client.post(MFA_VERIFY, {"mfa_token": token, "code": codes[0].upper()})
    assert response.status_code == 200
    again = api_client.post(
        MFA_VERIFY, {"mfa_token": _challenge(api_client, user, password), "code": codes[0]}
    )
    assert_envelope(again, 401, "INVALID_MFA_CODE")


def test_backup_codes_are_stored_hashed(mfa_user):
    user, _secret, codes = mfa_user
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_regenerate_backup_codes_voids_old_ones(api_client, mfa_user, password, clock):
    user, secret, codes = mfa_user
    client = bearer(
        api_client.post(
            MFA_VERIFY,
            {"mfa_token": _challenge(api_client, user, password), "code": totp_now(secret)},
        ).json()["access"]
    )
    clock.shift(30)
    response = client.post(BACKUP, {"code": totp_now(secret), "password": password}, format="json")
    assert response.status_code == 200
    new_codes = response.json()["backup_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    old = api_client.post(
        MFA_VERIFY, {"mfa_token": _challenge(api_client, user, password), "code": codes[1]}
    )
    assert_envelope(old, 401, "INVALID_MFA_CODE")
    new = api_client.post(
        MFA_VERIFY, {"mfa_token": _challenge(api_client, user, password), "code": new_codes[0]}
    )
    assert new.status_code == 200


def test_backup_codes_endpoint_needs_mfa_and_a_valid_code(user_client, mfa_user, password):
    # user_client is the same user: MFA is on now, but the code is wrong.
    response = user_client.post(BACKUP, {"code": "000000", "password": password}, format="json")
    assert_envelope(response, 401)


def test_backup_codes_endpoint_without_mfa(viewer_client, password):
    response = viewer_client.post(BACKUP, {"code": "123456", "password": password}, format="json")
    assert_envelope(response, 409)


def test_disable_needs_password_and_code(user_client, mfa_user, password, api_client):
    user, secret, _codes = mfa_user
    bad_password = user_client.post(
        DISABLE, {"code": totp_now(secret), "password": "wrong one"}, format="json"
    )
    body = assert_envelope(bad_password, 403, "INVALID_PASSWORD")
    assert "password" in body["details"]
    assert_envelope(
        user_client.post(DISABLE, {"code": "000000", "password": password}, format="json"), 401
    )
    ok = user_client.post(DISABLE, {"code": totp_now(secret), "password": password}, format="json")
    assert ok.status_code == 204
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert "access" in login(api_client, user.email, password).json()


def test_mfa_changes_are_audited(user_client, user, password, log_lines, clock):
    setup = user_client.post(ENABLE, {"password": password}, format="json").json()
    user_client.post(
        CONFIRM, {"code": totp_now(setup["secret"]), "password": password}, format="json"
    )
    assert "mfa_enabled" in log_lines.text
    assert setup["secret"] not in log_lines.text


# --- MFA_REQUIRED_ROLES ---------------------------------------------------------------------


def test_required_role_without_mfa_can_only_enrol(
    api_client, admin_user, password, settings, clock
):
    settings.MFA_REQUIRED_ROLES = ["admin"]
    response = login(api_client, admin_user.email, password)
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_enrollment_required"] is True
    assert "access" not in body and "refresh" not in body
    client = bearer(body["enrollment_token"])
    # the enrolment token opens nothing else
    refused = assert_envelope(client.get(ME), 401, "AUTHENTICATION_FAILED")
    assert refused["details"]["reason"] == "mfa_enrollment_required"
    assert_envelope(client.get("/api/v1/users"), 401)
    setup = client.post(ENABLE, {"password": password}, format="json").json()
    confirmed = client.post(
        CONFIRM, {"code": totp_now(setup["secret"]), "password": password}, format="json"
    )
    assert confirmed.status_code == 200
    tokens = confirmed.json()["tokens"]
    assert bearer(tokens["access"]).get("/api/v1/users").status_code == 200
    # from now on the login asks for the code
    assert login(api_client, admin_user.email, password).json()["mfa_required"] is True


def test_required_role_cannot_disable_mfa(user_client, mfa_user, password, settings):
    settings.MFA_REQUIRED_ROLES = ["user"]
    _user, secret, _codes = mfa_user
    response = user_client.post(
        DISABLE, {"code": totp_now(secret), "password": password}, format="json"
    )
    assert_envelope(response, 403, "MFA_REQUIRED")


def test_enrollment_token_refused_on_websocket_helper(admin_user, settings):
    from rest_framework_simplejwt.exceptions import AuthenticationFailed

    from accounts.authentication import user_from_access_token
    from accounts.tokens import enrollment_token_for

    with pytest.raises(AuthenticationFailed):
        user_from_access_token(enrollment_token_for(user=admin_user))
