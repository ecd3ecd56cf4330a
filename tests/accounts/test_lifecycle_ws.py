"""Lifecycle effects on open WebSockets: logout-all and password change close them at once;
REQUIRE_VERIFIED_EMAIL answers a chat frame with an error frame."""

import time

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


# --- every frame re-checks the token ----------------------------------------------------------
# These sockets get no revocation broadcast (a single logout sends none; a lost broadcast is
# simulated by changing the database directly): the next frame alone must end them.

FRAMES = {
    "ping": {"type": "ping"},
    "cancel": {"type": "cancel", "message_id": 1},
    "resume": {"type": "resume", "message_id": 1, "after_seq": 0},
    "unknown": {"type": "whatever"},
    "malformed": {"no": "type"},
}


async def _refused_with_4401(ws) -> None:
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "AUTHENTICATION_FAILED", error
    assert (await ws.receive_output(timeout=5))["code"] == 4401
    await ws.disconnect()


@pytest.mark.parametrize("kind", sorted(FRAMES))
async def test_logout_ends_the_socket_at_its_next_frame(user, kind):
    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "pong"
    response = await sync_to_async(bearer(tokens["access"]).post)(
        "/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json"
    )
    assert response.status_code == 204
    await ws.send_json_to(FRAMES[kind])
    await _refused_with_4401(ws)


async def test_token_version_change_ends_the_socket_without_a_broadcast(user):
    from django.db.models import F

    from accounts.models import User

    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(
        token_version=F("token_version") + 1
    )
    await ws.send_json_to({"type": "resume", "message_id": 1})
    await _refused_with_4401(ws)


async def test_suspension_ends_the_socket_without_a_broadcast(user):
    from accounts.models import User

    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
    await ws.send_json_to({"type": "cancel", "message_id": 1})
    await _refused_with_4401(ws)


async def test_expired_token_ends_the_socket_unless_renewed(user, settings):
    import time_machine

    tokens = await sync_to_async(issue_tokens)(user=user)
    ws = await open_socket(tokens["access"])
    renewed = await open_socket(tokens["access"])
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    with time_machine.travel(time.time() + lifetime - 60, tick=True):
        # Shortly before expiry the page sends a fresh token on the live socket.
        fresh = await sync_to_async(issue_tokens)(user=user)
        await renewed.send_json_to({"type": "auth", "token": fresh["access"]})
        assert (await renewed.receive_json_from(timeout=5))["type"] == "ready"
    with time_machine.travel(time.time() + lifetime + 60, tick=True):
        await renewed.send_json_to({"type": "ping"})
        assert (await renewed.receive_json_from(timeout=5))["type"] == "pong"
        await ws.send_json_to({"type": "ping"})
        await _refused_with_4401(ws)
    await renewed.disconnect()
