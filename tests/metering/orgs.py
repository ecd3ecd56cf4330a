"""Organizations with members for the quota tests."""

from core.actor import Actor
from tenants.models import MemberRole, Membership, Organization
from tenants.services import organization_create
from tests.factories import UserFactory


def organization_with(*roles: str, name: str = "Acme") -> tuple[Organization, list]:
    """A new organization whose owner is the first user; one more user per role in ``roles``
    (the owner is ``users[0]``)."""
    owner = UserFactory()
    organization = organization_create(actor=Actor(user=owner, system=True), name=name, owner=owner)
    users = [owner]
    for role in roles:
        member = UserFactory()
        Membership.objects.create(organization=organization, user=member, role=role)
        users.append(member)
    return organization, users


def actor_in(organization: Organization, user) -> Actor:
    """``user`` acting in ``organization`` with their membership's role (what a door builds)."""
    role = Membership.objects.get(organization=organization, user=user).role
    return Actor(user=user, organization=organization, membership_role=role)


MEMBER = MemberRole.MEMBER
