"""Suspending an organization (or ending a membership) closes its members' sockets in it at
once, on any worker (a channel-layer event to the members' user groups); their sockets in
other organizations stay open."""

import pytest
from channels.db import database_sync_to_async

from accounts.tokens import issue_tokens
from core.actor import Actor
from tenants.members import member_remove
from tenants.models import Membership
from tenants.services import organization_status_set
from tests.chat.ws import open_socket
from tests.factories import UserFactory
from tests.tenants.conftest import team_create

pytestmark = pytest.mark.django_db(transaction=True)

CLOSE_TENANT_REFUSED = 4403


@database_sync_to_async
def _token(user) -> str:
    return issue_tokens(user=user)["access"]


async def _closed_with(ws, code: str) -> None:
    frame = await ws.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == code, frame
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_TENANT_REFUSED}


async def _still_open(ws, token: str) -> None:
    # A fresh token on a live socket is answered with ``ready``: the socket is still served.
    await ws.send_json_to({"type": "auth", "token": token})
    assert (await ws.receive_json_from(timeout=5))["type"] == "ready"


async def test_suspension_closes_the_members_sockets_in_that_organization():
    team = await database_sync_to_async(team_create)()
    admin = await database_sync_to_async(UserFactory)(role="admin", email="root@example.com")
    member_token = await _token(team.users["member"])
    viewer_token = await _token(team.users["viewer"])
    in_acme = await open_socket(member_token, path="/ws/chat/?tenant=acme")
    viewer_in_acme = await open_socket(viewer_token, path="/ws/chat/?tenant=acme")
    personal = await open_socket(member_token)  # the member's default (personal) organization

    changed = await database_sync_to_async(organization_status_set)(
        actor=Actor(user=admin), organization=team.organization, suspend=True
    )
    assert changed
    await _closed_with(in_acme, "TENANT_SUSPENDED")
    await _closed_with(viewer_in_acme, "TENANT_SUSPENDED")
    await _still_open(personal, member_token)
    await personal.disconnect()

    # A new socket in the suspended organization is refused as well.
    from channels.testing import WebsocketCommunicator

    from tests.chat.ws import ORIGIN, application

    again = WebsocketCommunicator(application(), "/ws/chat/?tenant=acme", headers=[ORIGIN])
    assert (await again.connect(timeout=5))[0]
    await again.send_json_to({"type": "auth", "token": member_token})
    await _closed_with(again, "TENANT_SUSPENDED")


async def test_removing_a_member_closes_their_socket_in_the_organization():
    team = await database_sync_to_async(team_create)()
    token = await _token(team.users["member"])
    ws = await open_socket(token, path="/ws/chat/?tenant=acme")
    owner_membership = await database_sync_to_async(Membership.objects.get)(
        organization=team.organization, user=team.users["owner"]
    )
    actor = Actor(
        user=team.users["owner"],
        organization=team.organization,
        membership_role=owner_membership.role,
    )
    await database_sync_to_async(member_remove)(actor=actor, user_id=team.users["member"].pk)
    await _closed_with(ws, "TENANT_NOT_FOUND")
