"""Rate limits and lock-out on login and MFA verify."""

import pytest

from tests.accounts.helpers import MFA_VERIFY, assert_envelope, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def relaxed_rates(settings):
    """Lift the per-minute rates so a test can reach the lock-out threshold."""
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates.update(
        {"login": "1000/min", "login_ip": "1000/min", "mfa": "1000/min", "mfa_ip": "1000/min"}
    )
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_login_rate_limited_per_account(api_client, user, password):
    for _ in range(5):
        assert login(api_client, user.email, "wrong password").status_code == 401
    body = assert_envelope(login(api_client, user.email, password), 429, "RATE_LIMITED")
    assert body["details"]["retry_after"] >= 1
    response = login(api_client, user.email, password)
    assert int(response["Retry-After"]) >= 1
    # another account from the same IP is not affected by this account's limit
    assert login(api_client, "someone@example.com", "x y z w").status_code == 401


def test_login_rate_limited_per_ip(api_client, settings):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login_ip="3/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for n in range(3):
        assert login(api_client, f"u{n}@example.com", "x y z w").status_code == 401
    assert_envelope(login(api_client, "u9@example.com", "x y z w"), 429)
    # another client IP is fine
    assert login(api_client, "u9@example.com", "x y z w", REMOTE_ADDR="10.1.2.3").status_code == 401


def test_lockout_after_ten_failures_even_with_right_password(
    api_client, user, password, relaxed_rates, clock
):
    for _ in range(10):
        assert login(api_client, user.email, "wrong password").status_code == 401
    response = login(api_client, user.email, password, REMOTE_ADDR="10.9.9.9")
    body = assert_envelope(response, 429, "LOCKED_OUT")
    assert 890 <= int(response["Retry-After"]) <= 900
    assert body["details"]["retry_after"] == int(response["Retry-After"])
    clock.shift(14 * 60)
    assert login(api_client, user.email, password, REMOTE_ADDR="10.9.9.9").status_code == 429
    clock.shift(61)
    assert login(api_client, user.email, password, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_ip_failures_slow_down_without_locking_out_a_nat(
    api_client, user, password, relaxed_rates, settings, clock
):
    """Item 4: one client guessing many accounts slows its IP down; it does not lock everyone
    behind that IP out for the lock-out time, while the account lock stays strict."""
    settings.LOGIN_IP_FAILURE_THRESHOLD = 10
    settings.LOGIN_IP_MAX_DELAY_SECONDS = 8
    for n in range(10):
        assert login(api_client, f"guess{n}@example.com", "wrong password").status_code == 401
    # Past the threshold the IP waits between checks (1 s, then doubling) ...
    response = login(api_client, user.email, password)
    body = assert_envelope(response, 429, "SLOW_DOWN")
    assert body["details"]["retry_after"] == int(response["Retry-After"]) == 1
    assert login(api_client, user.email, password, REMOTE_ADDR="10.7.7.7").status_code == 200
    # ... and a colleague behind the same NAT gets in once the short delay is over,
    clock.shift(1)
    assert login(api_client, user.email, password).status_code == 200
    # while the attacker's further failures only lengthen the delay, up to the cap.
    for expected in (2, 4, 8, 8):
        clock.shift(60)
        assert login(api_client, "guess@example.com", "wrong password").status_code == 401
        response = login(api_client, user.email, password)
        assert_envelope(response, 429, "SLOW_DOWN")
        assert int(response["Retry-After"]) == expected


def test_lockout_is_enumeration_safe(api_client, user, relaxed_rates):
    for n in range(10):
        login(api_client, user.email, "wrong", REMOTE_ADDR=f"10.0.0.{n}")
        login(api_client, "ghost@example.com", "wrong", REMOTE_ADDR=f"10.0.1.{n}")
    a = login(api_client, user.email, "wrong", REMOTE_ADDR="10.0.2.1")
    b = login(api_client, "ghost@example.com", "wrong", REMOTE_ADDR="10.0.2.2")
    assert a.status_code == b.status_code == 429
    assert a.json()["code"] == b.json()["code"] == "LOCKED_OUT"


def test_success_resets_the_failure_count(api_client, user, password, relaxed_rates):
    for _ in range(9):
        login(api_client, user.email, "wrong password", REMOTE_ADDR="10.3.3.3")
    assert login(api_client, user.email, password, REMOTE_ADDR="10.4.4.4").status_code == 200
    for _ in range(9):
        login(api_client, user.email, "wrong password", REMOTE_ADDR="10.5.5.5")
    assert login(api_client, user.email, password, REMOTE_ADDR="10.6.6.6").status_code == 200


def test_mfa_verify_rate_limited(api_client, mfa_user, password):
    user, _secret, _codes = mfa_user
    token = login(api_client, user.email, password).json()["mfa_token"]
    for _ in range(5):
        api_client.post(MFA_VERIFY, {"mfa_token": token, "code": "000000"})
    response = api_client.post(MFA_VERIFY, {"mfa_token": token, "code": "000000"})
    assert_envelope(response, 429, "RATE_LIMITED")
    assert response["Retry-After"]


def test_mfa_failures_lock_the_account(api_client, mfa_user, password, relaxed_rates):
    user, _secret, _codes = mfa_user
    for n in range(10):
        token = login(api_client, user.email, password).json()["mfa_token"]
        response = api_client.post(
            MFA_VERIFY, {"mfa_token": token, "code": "000000"}, REMOTE_ADDR=f"10.8.0.{n}"
        )
        assert response.status_code == 401
    # a correct password no longer resets the counter into endless code guessing
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")


def test_every_code_door_shares_the_account_lock(
    api_client, mfa_user, user_client, password, relaxed_rates, settings
):
    """Wrong codes on auth/code/verify and on the signed-in MFA re-checks (new backup codes,
    MFA disable) all count towards the one account lock-out."""
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    user, _secret, _codes = mfa_user
    client = user_client
    # (the password is sent along where a step-up password may be asked for)
    wrong_code = {"code": "000000", "password": password}
    assert (
        api_client.post(
            "/api/v1/auth/code/verify", {"email": user.email, "code": "000000"}, format="json"
        ).status_code
        == 401
    )
    response = client.post("/api/v1/auth/mfa/backup-codes", wrong_code, format="json")
    assert_envelope(response, 401, "INVALID_MFA_CODE")
    response = client.post("/api/v1/auth/mfa/disable", wrong_code, format="json")
    assert_envelope(response, 401, "INVALID_MFA_CODE")
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")
    response = client.post("/api/v1/auth/mfa/backup-codes", wrong_code, format="json")
    assert_envelope(response, 429, "LOCKED_OUT")
