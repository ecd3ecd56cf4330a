"""The rules of sending a message hold on every door: one per-user rate, one email check."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import issue_tokens
from tests.chat.ws import open_socket, until_end
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "/api/v1/chat/message"


def _rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "chat_message": rate,
        },
    }


async def _new_user(**fields):
    user = await database_sync_to_async(UserFactory)(role=Role.USER, **fields)
    access = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return user, access, client


def _post(client: APIClient, text: str):
    return client.post(SEND, {"message": text}, format="json")


async def test_rest_and_websocket_share_one_message_rate_per_user(settings):
    settings.AI_PROVIDER = "offline"
    _rate(settings, "3/min")
    _user, access, client = await _new_user()
    ws = await open_socket(access)
    try:
        assert (await database_sync_to_async(_post)(client, "one")).status_code == 200
        await ws.send_json_to({"type": "message", "content": "two"})
        assert (await ws.receive_json_from(timeout=5))["type"] == "start"
        await until_end(ws)
        assert (await database_sync_to_async(_post)(client, "three")).status_code == 200
        # The budget is spent whichever door used it: both refuse the fourth.
        await ws.send_json_to({"type": "message", "content": "four"})
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "RATE_LIMITED", error
        refused = await database_sync_to_async(_post)(client, "four")
        assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
        assert "Retry-After" in refused.headers
    finally:
        await ws.disconnect()


async def test_another_users_budget_is_their_own(settings):
    settings.AI_PROVIDER = "offline"
    _rate(settings, "1/min")
    _first, _access, first = await _new_user()
    _second, _access2, second = await _new_user()
    assert (await database_sync_to_async(_post)(first, "one")).status_code == 200
    assert (await database_sync_to_async(_post)(first, "two")).status_code == 429
    assert (await database_sync_to_async(_post)(second, "one")).status_code == 200


async def test_unverified_email_is_refused_by_rest_and_websocket_alike(settings):
    settings.AI_PROVIDER = "offline"
    settings.REQUIRE_VERIFIED_EMAIL = True
    _user, access, client = await _new_user(is_verified=False)
    refused = await database_sync_to_async(_post)(client, "hi")
    assert refused.status_code == 403 and refused.json()["code"] == "EMAIL_NOT_VERIFIED"
    ws = await open_socket(access)
    try:
        await ws.send_json_to({"type": "message", "content": "hi"})
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "EMAIL_NOT_VERIFIED", error
    finally:
        await ws.disconnect()
