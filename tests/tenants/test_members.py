"""Members: list, role changes, suspension, removal, leaving; owners and the last owner."""

import pytest

from ops.models import AuditEvent
from tenants.models import Membership, MembershipStatus
from tests.accounts.helpers import assert_envelope
from tests.tenants.conftest import ROLES

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/organizations/current/members"


def _member(team, role):
    return f"{MEMBERS}/{team.users[role].pk}"


def _role(team, role):
    return Membership.objects.get(organization=team.organization, user=team.users[role]).role


@pytest.mark.parametrize("role", ROLES)
def test_list_matrix(team, role):
    response = team.client(role).get(MEMBERS)
    if role == "outsider":
        assert_envelope(response, 404, "TENANT_NOT_FOUND")
        return
    assert response.status_code == 200
    rows = {row["email"]: row["role"] for row in response.json()["results"]}
    assert rows == {f"{r}@acme.test": r for r in ("owner", "admin", "member", "viewer")}


@pytest.mark.parametrize(
    "actor,status",
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_role_change_matrix(team, actor, status):
    response = team.client(actor).patch(_member(team, "viewer"), {"role": "member"})
    assert response.status_code == status, response.content
    assert _role(team, "viewer") == ("member" if status == 200 else "viewer")
    if status == 200:
        event = AuditEvent.objects.get(action="organization.member_role")
        assert event.details == {"old": "viewer", "new": "member"}
        assert event.organization_id == team.organization.pk


def test_only_owners_make_or_unmake_owners(team):
    admin = team.client("admin")
    assert_envelope(admin.patch(_member(team, "member"), {"role": "owner"}), 403, "OWNER_REQUIRED")
    assert_envelope(admin.patch(_member(team, "owner"), {"role": "member"}), 403, "OWNER_REQUIRED")
    assert_envelope(admin.delete(_member(team, "owner")), 403, "OWNER_REQUIRED")
    owner = team.client("owner")
    assert owner.patch(_member(team, "member"), {"role": "owner"}).json()["role"] == "owner"


def test_the_last_owner_cannot_be_demoted_suspended_or_leave(team):
    owner = team.client("owner")
    assert_envelope(owner.patch(_member(team, "owner"), {"role": "admin"}), 409, "LAST_OWNER")
    assert_envelope(owner.delete(_member(team, "owner")), 409, "LAST_OWNER")
    assert _role(team, "owner") == "owner"
    # With a second owner, the first may step down (and the second then cannot leave).
    owner.patch(_member(team, "admin"), {"role": "owner"})
    assert owner.patch(_member(team, "owner"), {"role": "admin"}).status_code == 200
    second = team.client("admin")
    assert_envelope(second.delete(_member(team, "admin")), 409, "LAST_OWNER")
    assert_envelope(
        team.client("owner").patch(_member(team, "admin"), {"status": "suspended"}),
        403,
        "OWNER_REQUIRED",
    )


def test_a_member_may_leave_and_loses_access(team):
    client = team.client("member")
    assert client.delete(_member(team, "member")).status_code == 204
    assert not Membership.objects.filter(
        organization=team.organization, user=team.users["member"]
    ).exists()
    assert_envelope(client.get("/api/v1/organizations/current"), 404, "TENANT_NOT_FOUND")
    assert AuditEvent.objects.filter(action="organization.member_leave").exists()


@pytest.mark.parametrize(
    "actor,status",
    [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_remove_matrix(team, actor, status):
    target = "member" if actor == "viewer" else "viewer"  # removing yourself is leaving
    response = team.client(actor).delete(_member(team, target))
    assert response.status_code == status, response.content
    exists = Membership.objects.filter(
        organization=team.organization, user=team.users[target]
    ).exists()
    assert exists == (status != 204)


def test_removed_default_falls_back_to_the_personal_organization(team):
    Membership.objects.filter(user=team.users["member"]).update(is_default=False)
    Membership.objects.filter(organization=team.organization, user=team.users["member"]).update(
        is_default=True
    )
    team.client("admin").delete(_member(team, "member"))
    default = Membership.objects.get(user=team.users["member"], is_default=True)
    assert default.organization.is_personal


@pytest.mark.parametrize(
    "actor,status",
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_suspend_matrix(team, actor, status):
    response = team.client(actor).patch(_member(team, "member"), {"status": "suspended"})
    assert response.status_code == status, response.content
    if status != 200:
        return
    assert_envelope(
        team.client("member").get("/api/v1/organizations/current"), 403, "TENANT_SUSPENDED"
    )
    team.client(actor).patch(_member(team, "member"), {"status": "active"})
    assert team.client("member").get("/api/v1/organizations/current").status_code == 200
    assert AuditEvent.objects.filter(action="organization.member_unsuspend").exists()


def test_cannot_suspend_yourself(team):
    assert_envelope(
        team.client("admin").patch(_member(team, "admin"), {"status": "suspended"}),
        409,
        "SELF_SUSPENSION",
    )
    assert (
        Membership.objects.get(organization=team.organization, user=team.users["admin"]).status
        == MembershipStatus.ACTIVE
    )


def test_unknown_member_is_404(team):
    assert_envelope(team.client("owner").delete(f"{MEMBERS}/999999"), 404)
    assert_envelope(team.client("owner").patch(f"{MEMBERS}/999999", {"role": "admin"}), 404)
