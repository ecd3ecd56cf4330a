"""Authorization reads the current role from the database on every door, never a token claim."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role, User
from accounts.tokens import issue_tokens
from core import policies
from core.actor import Actor, actor_for_system
from tests.chat.ws import open_socket
from tests.factories import UserFactory

USERS = "/api/v1/users"
ME = "/api/v1/users/me"
SEND = "/api/v1/chat/message"


def _set_role(user: User, role: str) -> None:
    # A change that leaves the user's tokens valid (no token-version bump), as a membership
    # change will: only a policy that reads the database notices it.
    User.objects.filter(pk=user.pk).update(role=role)


def _client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_policies_read_the_role_of_the_actor():
    admin, user, viewer = (Actor(user=User(role=r)) for r in Role.values)
    assert [policies.is_admin(a) for a in (admin, user, viewer)] == [True, False, False]
    assert [policies.can_write(a) for a in (admin, user, viewer)] == [True, True, False]
    assert not policies.can_write(Actor()) and not policies.is_admin(Actor())
    # An organization role never makes a platform admin, and both roles must allow a write.
    org = object()

    def member(role: str, platform: str = Role.USER) -> Actor:
        return Actor(user=User(role=platform), organization=org, membership_role=role)

    assert not policies.is_admin(member("owner"))
    assert policies.is_org_admin(member("admin")) and not policies.is_org_admin(member("member"))
    assert policies.can_write(member("member")) and not policies.can_write(member("viewer"))
    assert not policies.can_write(member("owner", platform=Role.VIEWER))
    # The platform itself (an operator's command) may write.
    assert policies.can_write(actor_for_system())


@pytest.mark.django_db
def test_demoted_admin_loses_admin_rights_with_a_still_valid_token(admin_user):
    access = issue_tokens(user=admin_user)["access"]
    client = _client(access)
    assert client.get(USERS).status_code == 200
    _set_role(admin_user, Role.USER)
    assert AccessToken(access)["role"] == "admin"  # the claim still says admin
    assert client.get(ME).status_code == 200  # the token is still valid...
    refused = client.get(USERS)  # ...but the admin right is gone at once
    assert refused.status_code == 403 and refused.json()["code"] == "PERMISSION_DENIED"


@pytest.mark.django_db
def test_promoted_user_gets_admin_rights_without_a_new_token(user):
    client = _client(issue_tokens(user=user)["access"])
    assert client.get(USERS).status_code == 403
    _set_role(user, Role.ADMIN)
    assert client.get(USERS).status_code == 200


@pytest.mark.django_db
def test_demoted_writer_may_not_send_over_rest(settings, user):
    settings.AI_PROVIDER = "offline"
    client = _client(issue_tokens(user=user)["access"])
    _set_role(user, Role.VIEWER)
    refused = client.post(SEND, {"message": "hi"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "PERMISSION_DENIED"


@pytest.mark.django_db(transaction=True)
async def test_demoted_writer_may_not_send_on_an_open_socket(settings):
    settings.AI_PROVIDER = "offline"
    user = await database_sync_to_async(UserFactory)(role=Role.USER)
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    try:
        await database_sync_to_async(_set_role)(user, Role.VIEWER)
        await ws.send_json_to({"type": "message", "content": "hi"})
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "PERMISSION_DENIED", error
        # Promoted back: the same socket and token may send again.
        await database_sync_to_async(_set_role)(user, Role.USER)
        await ws.send_json_to({"type": "message", "content": "hi"})
        assert (await ws.receive_json_from(timeout=5))["type"] == "start"
    finally:
        await ws.disconnect()
