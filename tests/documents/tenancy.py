"""Organizations for the documents tests: members with a role, actors and API clients in one."""

from typing import Any

from rest_framework.test import APIClient

from core.actor import Actor
from tenants.models import Membership, Organization
from tests.conftest import _bearer_client
from tests.factories import UserFactory


def default_organization(user: Any) -> Organization:
    return (
        Membership.objects.select_related("organization")
        .get(user=user, is_default=True)
        .organization
    )


def organization_with(name: str, **caps: Any) -> Organization:
    slug = name.lower().replace(" ", "-")
    organization = Organization.objects.create(name=name, slug=slug)
    if caps:
        # After creation: billing gives a new organization its plan's (free: no) caps.
        Organization.objects.filter(pk=organization.pk).update(**caps)
        organization.refresh_from_db()
    return organization


def member(organization: Organization, role: str = "member", user: Any = None) -> Any:
    """A user (new unless given) with ``role`` in ``organization``."""
    user = user or UserFactory()
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


def actor_in(user: Any, organization: Organization | None = None) -> Actor:
    """The actor a door builds for ``user`` acting in ``organization`` (default: theirs)."""
    organization = organization or default_organization(user)
    role = Membership.objects.get(user=user, organization=organization).role
    return Actor(user=user, organization=organization, membership_role=role)


def client_in(user: Any, organization: Organization | None = None) -> APIClient:
    """A token client for ``user`` that selects ``organization`` with ``X-Tenant-ID``."""
    client = _bearer_client(user)
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
            HTTP_X_TENANT_ID=str(organization.pk),
        )
    return client
