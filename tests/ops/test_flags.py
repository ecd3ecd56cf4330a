"""Feature flags: stored, cached, changed through the admin API, and each one respected."""

import pytest
from channels.layers import channel_layers

from accounts.tokens import issue_tokens
from chat.models import ChatMessage
from core.actor import Actor
from metering.models import UsageRecord
from ops.flags import flag_enabled
from ops.models import FeatureFlag
from tests.accounts.helpers import assert_envelope
from tests.chat.ws import open_socket

FLAGS = "/api/v1/admin/feature-flags"
SEND = "/api/v1/chat/message"


def _set(client, name: str, enabled: bool):
    response = client.post(FLAGS, {"name": name, "enabled": enabled}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is enabled
    return response


@pytest.mark.django_db
def test_list_shows_every_known_flag_with_defaults(admin_client_api):
    flags = {f["name"]: f for f in admin_client_api.get(FLAGS).json()}
    assert {
        "registration_open",
        "streaming_enabled",
        "rag_enabled",
        "offline_provider_allowed",
    } <= set(flags)
    assert all(f["enabled"] is True and f["default"] is True for f in flags.values())
    assert all(f["description"] for f in flags.values())


@pytest.mark.django_db
def test_only_admins_may_read_or_change_flags(user_client, api_client):
    assert_envelope(user_client.get(FLAGS), 403)
    assert_envelope(user_client.post(FLAGS, {"name": "rag_enabled", "enabled": False}), 403)
    assert_envelope(api_client.get(FLAGS), 401)
    assert flag_enabled("rag_enabled") is True


@pytest.mark.django_db
def test_unknown_flag_is_a_validation_error(admin_client_api):
    assert_envelope(admin_client_api.post(FLAGS, {"name": "nope", "enabled": True}), 400)


@pytest.mark.django_db
def test_value_is_cached_and_a_change_invalidates_it(admin_client_api, django_assert_num_queries):
    assert flag_enabled("rag_enabled") is True
    with django_assert_num_queries(0):
        assert flag_enabled("rag_enabled") is True
    # A write that bypasses the service is not seen until the cache entry expires...
    FeatureFlag.objects.create(name="rag_enabled", enabled=False)
    assert flag_enabled("rag_enabled") is True
    # ...the service invalidates at once.
    _set(admin_client_api, "rag_enabled", False)
    assert flag_enabled("rag_enabled") is False
    _set(admin_client_api, "rag_enabled", True)
    assert flag_enabled("rag_enabled") is True


@pytest.mark.django_db
def test_registration_open_flag(admin_client_api, api_client):
    data = {
        "email": "ada@example.com",
        "username": "ada",
        "password": "a long enough passphrase 42",
        "full_name": "Ada",
    }
    _set(admin_client_api, "registration_open", False)
    assert_envelope(
        api_client.post("/api/v1/auth/register", data, format="json"), 403, "REGISTRATION_CLOSED"
    )
    _set(admin_client_api, "registration_open", True)
    assert api_client.post("/api/v1/auth/register", data, format="json").status_code == 201


@pytest.mark.django_db
def test_offline_provider_allowed_flag(admin_client_api, user_client, user):
    _set(admin_client_api, "offline_provider_allowed", False)
    body = assert_envelope(user_client.post(SEND, {"message": "hello"}), 502, "AI_PROVIDER_ERROR")
    assert body["details"]["kind"] == "provider_disabled"
    assert not UsageRecord.objects.exists() and not ChatMessage.objects.exists()
    _set(admin_client_api, "offline_provider_allowed", True)
    assert user_client.post(SEND, {"message": "hello"}).status_code == 200


@pytest.mark.django_db
def test_rag_enabled_flag(admin_client_api, user_client, monkeypatch):
    calls = []

    def fake_retrieve(*, actor, query, document_ids=None):
        calls.append(query)
        return [
            {
                "document_id": "d1",
                "title": "Handbook",
                "page": 2,
                "score": 0.9,
                "text": "Refunds take 14 days.",
            }
        ]

    # The retrieval boundary (Qdrant search) is replaced; the flag decides whether it is asked.
    monkeypatch.setattr("chat.services.turns.retrieve_for_chat", fake_retrieve)
    with_rag = user_client.post(SEND, {"message": "refunds?"}).json()
    assert [s["title"] for s in with_rag["sources"]] == ["Handbook"]
    assert calls == ["refunds?"]

    _set(admin_client_api, "rag_enabled", False)
    without = user_client.post(SEND, {"message": "refunds again?"}).json()
    assert without["sources"] == []
    assert calls == ["refunds?"]


@pytest.fixture
def _fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_streaming_enabled_flag(_fresh_layer, user, admin_user):
    from channels.db import database_sync_to_async

    from ops.flags import feature_flag_set

    token = await database_sync_to_async(lambda: issue_tokens(user=user)["access"])()
    await database_sync_to_async(feature_flag_set)(
        name="streaming_enabled", enabled=False, actor=Actor(user=admin_user)
    )
    ws = await open_socket(token)
    await ws.send_json_to({"type": "message", "content": "hello"})
    frame = await ws.receive_json_from(timeout=10)
    assert frame["type"] == "error" and frame["code"] == "STREAMING_DISABLED"
    assert "/api/v1/chat/message" in frame["message"]
    assert frame["success"] is False and "request_id" in frame

    await database_sync_to_async(feature_flag_set)(
        name="streaming_enabled", enabled=True, actor=Actor(user=admin_user)
    )
    await ws.send_json_to({"type": "message", "content": "hello"})
    assert (await ws.receive_json_from(timeout=10))["type"] == "start"
    while (await ws.receive_json_from(timeout=10))["type"] != "end":
        pass
    await ws.disconnect()
    assert await database_sync_to_async(ChatMessage.objects.count)() == 1
