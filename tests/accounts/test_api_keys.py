"""Personal API keys: shown once, stored hashed, scoped, revocable, dead with a suspension."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey
from ops.models import AuditEvent
from tests.accounts.helpers import ME, assert_envelope
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/users/me/api-keys"


def keyed(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _create(client, **data) -> dict:
    response = client.post(
        KEYS, {"name": "script", "password": DEFAULT_PASSWORD, **data}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_secret_once_and_stores_a_hash(user_client, user):
    created = _create(user_client, name="laptop")
    raw = created["key"]
    assert raw.startswith(f"ak_{created['prefix']}_") and len(raw) > 40
    assert sorted(created["scopes"]) == ["chat", "documents", "openai", "read"]
    stored = ApiKey.objects.get(pk=created["id"])
    assert stored.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.filter(pk=stored.pk).values().first())
    listed = user_client.get(KEYS).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["prefix"] for row in rows] == [created["prefix"]]
    assert "key" not in rows[0] and raw not in str(listed)
    assert keyed(raw).get(ME).json()["email"] == user.email


def test_keys_are_private_to_their_owner(user_client, admin_client_api):
    created = _create(user_client)
    listed = admin_client_api.get(KEYS).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows == []
    assert_envelope(admin_client_api.delete(f"{KEYS}/{created['id']}"), 404)


def test_revoked_key_stops_at_once(user_client):
    created = _create(user_client)
    client = keyed(created["key"])
    assert client.get(ME).status_code == 200
    assert user_client.delete(f"{KEYS}/{created['id']}").status_code == 204
    assert_envelope(client.get(ME), 401)
    row = user_client.get(f"{KEYS}/{created['id']}").json()
    assert row["is_active"] is False and row["revoked_at"]


def test_expired_key_is_refused(user_client, clock):
    soon = timezone.now() + timedelta(hours=1)
    created = _create(user_client, expires_at=soon.isoformat())
    assert keyed(created["key"]).get(ME).status_code == 200
    clock.shift(timedelta(hours=1, seconds=1))
    assert_envelope(keyed(created["key"]).get(ME), 401)


def test_expiry_in_the_past_is_rejected(user_client):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = user_client.post(KEYS, {"name": "old", "expires_at": past}, format="json")
    assert "expires_at" in assert_envelope(response, 400, "VALIDATION_ERROR")["details"]


def test_suspension_stops_the_key_at_once(user_client, user, admin_user):
    created = _create(user_client)
    services.user_suspend(actor=admin_user, user=user)
    assert_envelope(keyed(created["key"]).get(ME), 401)


def test_unknown_or_malformed_keys_are_refused(db):
    assert_envelope(keyed("ak_deadbeef_notakey").get(ME), 401)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key")
    assert_envelope(client.get(ME), 401)


def test_read_scope_reads_but_never_writes(user_client, settings):
    settings.AI_PROVIDER = "offline"
    raw = _create(user_client, scopes=["read"])["key"]
    client = keyed(raw)
    assert client.get(ME).status_code == 200
    assert client.get("/api/v1/chat/sessions").status_code == 200
    assert client.get("/api/v1/documents").status_code == 200
    chat = client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert_envelope(chat, 403, "API_KEY_SCOPE")


def test_chat_scope_chats_but_no_documents(user_client, settings):
    settings.AI_PROVIDER = "offline"
    client = keyed(_create(user_client, scopes=["chat"])["key"])
    chat = client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert chat.status_code in (200, 201), chat.content
    assert client.get("/api/v1/chat/sessions").status_code == 200
    assert_envelope(client.get("/api/v1/documents"), 403, "API_KEY_SCOPE")
    assert_envelope(client.get(ME), 403, "API_KEY_SCOPE")  # no read scope


def test_documents_scope_reaches_documents_only(user_client):
    client = keyed(_create(user_client, scopes=["documents"])["key"])
    assert client.get("/api/v1/documents").status_code == 200
    chat = client.post("/api/v1/chat/message", {"message": "hi"}, format="json")
    assert_envelope(chat, 403, "API_KEY_SCOPE")


def test_account_writes_are_never_reachable_with_a_key(user_client, password):
    client = keyed(_create(user_client)["key"])  # every scope
    assert_envelope(client.patch(ME, {"full_name": "Mallory"}, format="json"), 403)
    assert_envelope(client.post(KEYS, {"name": "more"}, format="json"), 403)
    assert_envelope(client.get(KEYS), 403)
    change = client.post(
        "/api/v1/auth/password/change",
        {"current_password": password, "new_password": "a brand new passphrase 77"},
        format="json",
    )
    assert_envelope(change, 403)
    assert_envelope(client.post("/api/v1/auth/mfa/enable"), 403)
    assert_envelope(client.post("/api/v1/auth/logout-all"), 403)


def test_role_still_applies_to_a_key(viewer_client, settings):
    settings.AI_PROVIDER = "offline"
    client = keyed(_create(viewer_client, scopes=["chat"])["key"])
    assert_envelope(client.post("/api/v1/chat/message", {"message": "hi"}, format="json"), 403)


def test_last_used_is_recorded_at_most_once_a_minute(user_client, clock):
    created = _create(user_client)
    client = keyed(created["key"])
    client.get(ME)
    first = ApiKey.objects.get(pk=created["id"]).last_used_at
    assert first is not None
    clock.shift(30)
    client.get(ME)
    assert ApiKey.objects.get(pk=created["id"]).last_used_at == first
    clock.shift(31)
    client.get(ME)
    assert ApiKey.objects.get(pk=created["id"]).last_used_at > first


def test_number_of_keys_is_limited(user_client, settings):
    settings.API_KEYS_MAX_PER_USER = 2
    first = _create(user_client)
    _create(user_client)
    response = user_client.post(
        KEYS, {"name": "third", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert_envelope(response, 409, "API_KEY_LIMIT")
    user_client.delete(f"{KEYS}/{first['id']}")
    _create(user_client)


def test_unknown_scope_is_rejected(user_client):
    response = user_client.post(KEYS, {"name": "x", "scopes": ["admin"]}, format="json")
    assert "scopes" in assert_envelope(response, 400, "VALIDATION_ERROR")["details"]


def test_key_never_opens_the_admin_console(client, admin_client_api):
    raw = _create(admin_client_api)["key"]
    response = client.get("/admin/", HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 302  # to the login page


def test_admin_console_lists_and_revokes_keys(client, admin_user, user_client):
    created = _create(user_client, name="ci runner")
    client.force_login(admin_user)
    changelist = "/admin/accounts/apikey/"
    page = client.get(changelist)
    assert page.status_code == 200
    assert "ci runner" in page.content.decode()
    assert created["key"] not in page.content.decode()
    response = client.post(
        changelist, {"action": "revoke_keys", "_selected_action": [created["id"]]}
    )
    assert response.status_code == 302
    assert_envelope(keyed(created["key"]).get(ME), 401)


# --- the "I may be compromised" buttons end keys too ----------------------------------------


def test_logout_all_ends_every_key(user_client, user):
    keys = [keyed(_create(user_client, name=f"k{n}")["key"]) for n in range(2)]
    assert all(client.get(ME).status_code == 200 for client in keys)
    assert user_client.post("/api/v1/auth/logout-all").status_code == 204
    for client in keys:
        assert_envelope(client.get(ME), 401)
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert AuditEvent.objects.get(action="api_keys_revoked").details == {
        "reason": "logout_all",
        "count": 2,
    }


def test_password_reset_ends_every_key(user_client, user, api_client):
    from accounts.lifecycle import password_reset_token

    client = keyed(_create(user_client)["key"])
    reset = api_client.post(
        "/api/v1/auth/password/reset",
        {"token": password_reset_token(user=user), "new_password": "a brand new passphrase 77"},
        format="json",
    )
    assert reset.status_code == 204
    assert_envelope(client.get(ME), 401)


def test_admin_password_reset_ends_every_key(user_client, user, admin_user):
    client = keyed(_create(user_client)["key"])
    services.user_password_reset_by_admin(actor=admin_user, user=user)
    assert_envelope(client.get(ME), 401)


def test_password_change_keeps_the_keys(user_client, user, password):
    """A routine change (the old password was known) is not a compromise: scripts keep working."""
    client = keyed(_create(user_client)["key"])
    changed = user_client.post(
        "/api/v1/users/me/password",
        {"current_password": password, "new_password": "a brand new passphrase 77"},
        format="json",
    )
    assert changed.status_code == 200
    assert client.get(ME).status_code == 200
