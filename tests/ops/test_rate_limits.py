"""Scoped throttles from settings, the admin's list of who is blocked, and unblocking."""

import pytest

from ops.models import AuditEvent
from tests.accounts.helpers import assert_envelope, login

pytestmark = pytest.mark.django_db

LIST = "/api/v1/admin/rate-limits"
UNBLOCK = "/api/v1/admin/rate-limits/unblock"
SEND = "/api/v1/chat/message"


def test_chat_message_throttle_listed_and_unblocked_by_user(
    settings, user_client, user, admin_client_api
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "chat_message": "2/min",
        },
    }
    assert user_client.post(SEND, {"message": "one"}).status_code == 200
    assert user_client.post(SEND, {"message": "two"}).status_code == 200
    assert_envelope(user_client.post(SEND, {"message": "three"}), 429)

    entries = admin_client_api.get(LIST).json()["results"]
    assert [(e["scope"], e["ident"], e["count"]) for e in entries] == [
        ("chat_message", str(user.pk), 2)
    ]

    response = admin_client_api.post(UNBLOCK, {"user_id": user.pk}, format="json")
    assert response.status_code == 200 and response.json()["cleared"] == 1
    assert admin_client_api.get(LIST).json()["results"] == []
    assert user_client.post(SEND, {"message": "four"}).status_code == 200
    event = AuditEvent.objects.get(action="rate_limit_unblocked")
    assert event.target_id == str(user.pk)


def test_login_ip_block_listed_and_unblocked_by_ip(settings, api_client, user, admin_client_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login_ip": "2/min",
        },
    }
    settings.LOGIN_LOCKOUT_THRESHOLD = 100
    for _ in range(2):
        assert login(api_client, user.email, "wrong").status_code == 401
    assert_envelope(login(api_client, user.email, "wrong"), 429)

    entries = admin_client_api.get(LIST).json()["results"]
    assert ("login_ip", "127.0.0.1") in [(e["scope"], e["ident"]) for e in entries]

    assert admin_client_api.post(UNBLOCK, {"ip": "127.0.0.1"}, format="json").json()["cleared"] >= 1
    assert login(api_client, user.email, "wrong").status_code == 401  # refused, not throttled


def test_unblock_lifts_a_failed_login_lockout(
    settings, api_client, user, password, admin_client_api
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    for _ in range(2):
        login(api_client, user.email, "wrong")
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")
    admin_client_api.post(UNBLOCK, {"ip": "127.0.0.1"}, format="json")
    admin_client_api.post(UNBLOCK, {"user_id": user.pk}, format="json")
    assert login(api_client, user.email, password).status_code == 200


def test_unblock_validation_and_access(admin_client_api, user_client):
    assert_envelope(admin_client_api.post(UNBLOCK, {}, format="json"), 400)
    assert_envelope(admin_client_api.post(UNBLOCK, {"ip": "not an ip"}, format="json"), 400)
    assert_envelope(admin_client_api.post(UNBLOCK, {"user_id": 999999}, format="json"), 404)
    assert_envelope(user_client.post(UNBLOCK, {"ip": "127.0.0.1"}, format="json"), 403)


def test_lockouts_and_ip_slow_down_listed_and_unblocked(
    settings, api_client, user, password, admin_client_api
):
    """The failure lock-out of an account and the slow-down of an IP are in the list, and
    unblocking lifts them."""
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login="100/min")
    rates["login_ip"] = "100/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    settings.LOGIN_IP_FAILURE_THRESHOLD = 4
    for _ in range(3):
        login(api_client, user.email, "wrong")
    login(api_client, "other@example.com", "wrong")
    assert_envelope(login(api_client, user.email, password), 429, "LOCKED_OUT")
    assert_envelope(login(api_client, "third@example.com", "wrong"), 429, "SLOW_DOWN")

    entries = {
        (e["scope"], e["ident"]): e["count"] for e in admin_client_api.get(LIST).json()["results"]
    }
    from accounts.throttles import _digest

    assert entries[("login_lockout", _digest(user.email))] == 3
    assert entries[("login_ip_failures", "127.0.0.1")] == 4

    response = admin_client_api.post(UNBLOCK, {"user_id": user.pk}, format="json")
    assert response.json()["cleared"] == 1
    response = admin_client_api.post(UNBLOCK, {"ip": "127.0.0.1"}, format="json")
    assert response.json()["cleared"] == 1
    assert admin_client_api.get(LIST).json()["results"] == []
    assert login(api_client, user.email, password).status_code == 200
