"""An organization with one user of each role, and an outsider, each with an API client."""

from dataclasses import dataclass
from typing import Any

import pytest
from channels.layers import channel_layers
from rest_framework.test import APIClient

from accounts.tokens import issue_tokens
from core.actor import Actor
from tenants.models import MemberRole, Membership, Organization
from tenants.services import organization_create
from tests.factories import UserFactory

ROLES = ["owner", "admin", "member", "viewer", "outsider"]


@dataclass
class Team:
    organization: Organization
    users: dict[str, Any]

    def client(self, role: str, *, header: bool = True) -> APIClient:
        """``role``'s client; ``header``: sends ``X-Tenant-ID`` naming the organization."""
        client = APIClient()
        token = issue_tokens(user=self.users[role])["access"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        if header:
            client.defaults["HTTP_X_TENANT_ID"] = str(self.organization.pk)
        return client


def team_create(name: str = "Acme", slug: str = "acme") -> Team:
    owner = UserFactory(email=f"owner@{slug}.test", username=f"{slug}-owner")
    organization = organization_create(actor=Actor(user=owner), name=name, owner=owner, slug=slug)
    users = {"owner": owner}
    for role in (MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER):
        user = UserFactory(email=f"{role}@{slug}.test", username=f"{slug}-{role}")
        Membership.objects.create(organization=organization, user=user, role=role)
        users[str(role)] = user
    users["outsider"] = UserFactory(email=f"outsider@{slug}.test", username=f"{slug}-outsider")
    return Team(organization=organization, users=users)


@pytest.fixture
def team(db) -> Team:
    return team_create()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    # Layers hold asyncio objects bound to one event loop; every test gets its own loop.
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
