"""Lifecycle effects on open WebSockets: logout-all and password change close them at once;
REQUIRE_VERIFIED_EMAIL answers a chat frame with an error frame."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from accounts.tokens import issue_tokens
from chat.models import ChatMessage
from tests.accounts.helpers import bearer
from tests.chat.ws import open_socket
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _closed_with_4401(ws) -> None:
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error", error
    assert (await ws.receive_output(timeout=5))["code"] == 4401


async def test_logout_all_closes_an_open_websocket(user):
    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    response = await sync_to_async(bearer(tokens["access"]).post)("/api/v1/auth/logout-all")
    assert response.status_code == 204
    await _closed_with_4401(ws)
    # A new socket with the old token is refused too.
    from channels.testing import WebsocketCommunicator

    from tests.chat.ws import ORIGIN, application

    again = WebsocketCommunicator(application(), "/ws/chat/", headers=[ORIGIN])
    await again.connect(timeout=5)
    await again.send_json_to({"type": "auth", "token": tokens["access"]})
    frame = await again.receive_json_from(timeout=5)
    assert frame["type"] == "error"
    await again.disconnect()


async def test_password_change_closes_other_websockets(user, password):
    other = await sync_to_async(issue_tokens)(user=user)
    current = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(other["access"])
    response = await sync_to_async(bearer(current["access"]).post)(
        "/api/v1/auth/password/change",
        {"current_password": password, "new_password": "a brand new passphrase 77"},
        format="json",
    )
    assert response.status_code == 200
    await _closed_with_4401(ws)
    # The fresh tokens of this session open a socket fine.
    fresh = await open_socket(response.json()["access"])
    await fresh.disconnect()


async def test_unverified_user_gets_an_error_frame_when_required(settings):
    settings.REQUIRE_VERIFIED_EMAIL = True
    settings.AI_PROVIDER = "offline"
    user = await database_sync_to_async(UserFactory)(is_verified=False)
    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    await ws.send_json_to({"type": "message", "content": "hello?"})
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "EMAIL_NOT_VERIFIED", error
    assert not await database_sync_to_async(ChatMessage.objects.exists)()
    # The socket stays open: verifying the address is all it takes.
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    await ws.disconnect()
