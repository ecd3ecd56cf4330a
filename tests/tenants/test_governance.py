"""The audit trail and the feature flags of an organization (owners and admins), and
X-Tenant-ID resolution on the organizations routes."""

import pytest

from core.actor import Actor
from core.tenancy import organization_scope
from ops.flags import feature_flag_set, flag_enabled
from ops.models import AuditEvent, FeatureFlag
from tenants.models import MembershipStatus, OrganizationStatus
from tests.accounts.helpers import assert_envelope
from tests.tenants.conftest import ROLES, team_create

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/organizations/current/audit"
FLAGS = "/api/v1/organizations/current/flags"
ADMIN_ONLY = {"owner": 200, "admin": 200, "member": 403, "viewer": 403, "outsider": 404}


@pytest.mark.parametrize("role", ROLES)
def test_audit_matrix(team, role):
    assert team.client(role).get(AUDIT).status_code == ADMIN_ONLY[role]


def test_audit_lists_only_this_organizations_events_and_filters(team):
    other = team_create("Other", "other")
    other.client("owner").patch("/api/v1/organizations/current", {"name": "Other 2"})
    client = team.client("owner")
    client.patch("/api/v1/organizations/current", {"name": "Acme 2"})
    client.patch(
        f"/api/v1/organizations/current/members/{team.users['viewer'].pk}", {"role": "member"}
    )
    client.put(f"{FLAGS}/rag_enabled", {"enabled": False})
    rows = client.get(AUDIT).json()["results"]
    assert {r["action"] for r in rows} == {
        "organization.create",
        "organization.update",
        "organization.member_role",
        "feature_flag_changed",
    }
    assert all(r["target_repr"] != "Other 2 (other)" for r in rows)
    only = client.get(AUDIT, {"action": "organization.update"}).json()["results"]
    assert [r["action"] for r in only] == ["organization.update"]
    assert only[0]["actor_email"] == "owner@acme.test"
    prefix = client.get(AUDIT, {"action": "organization."}).json()["results"]
    assert len(prefix) == 3 and all(r["action"].startswith("organization.") for r in prefix)
    page = client.get(AUDIT, {"page_size": 1}).json()
    assert page["count"] == 4 and len(page["results"]) == 1


@pytest.mark.parametrize("role", ROLES)
def test_flag_list_matrix(team, role):
    assert team.client(role).get(FLAGS).status_code == ADMIN_ONLY[role]


@pytest.mark.parametrize("role", ROLES)
def test_flag_override_matrix(team, role):
    response = team.client(role).put(f"{FLAGS}/rag_enabled", {"enabled": False})
    assert response.status_code == ADMIN_ONLY[role], response.content
    stored = FeatureFlag.objects.filter(organization=team.organization, name="rag_enabled")
    assert stored.exists() == (ADMIN_ONLY[role] == 200)


def test_flag_override_applies_to_this_organization_only(team):
    feature_flag_set(name="streaming_enabled", enabled=False, actor=Actor(system=True))
    client = team.client("admin")
    response = client.put(f"{FLAGS}/streaming_enabled", {"enabled": True})
    assert response.status_code == 200
    body = response.json()
    assert body == {**body, "enabled": True, "organization_value": True, "platform_value": False}
    with organization_scope(team.organization.pk):
        assert flag_enabled("streaming_enabled") is True
    other = team_create("Other", "other")
    with organization_scope(other.organization.pk):
        assert flag_enabled("streaming_enabled") is False
    event = AuditEvent.objects.get(action="feature_flag_changed", organization=team.organization)
    assert event.details["flag"] == "streaming_enabled"
    # Dropping the override brings the platform's value back.
    assert client.delete(f"{FLAGS}/streaming_enabled").status_code == 204
    listed = {f["name"]: f for f in client.get(FLAGS).json()}
    assert listed["streaming_enabled"]["organization_value"] is None
    assert listed["streaming_enabled"]["enabled"] is False
    with organization_scope(team.organization.pk):
        assert flag_enabled("streaming_enabled") is False


def test_unknown_flag_is_a_400(team):
    client = team.client("owner")
    assert_envelope(client.put(f"{FLAGS}/no_such_flag", {"enabled": True}), 400)
    assert_envelope(client.delete(f"{FLAGS}/no_such_flag"), 400)


# --- X-Tenant-ID ---------------------------------------------------------------------------


def _me(client, tenant=None):
    extra = {"HTTP_X_TENANT_ID": tenant} if tenant is not None else {}
    return client.get("/api/v1/organizations/current", **extra)


def test_header_by_id_and_by_slug(team):
    client = team.client("member", header=False)
    assert _me(client, str(team.organization.pk)).json()["slug"] == "acme"
    assert _me(client, "ACME").json()["slug"] == "acme"


def test_without_header_the_default_applies(team):
    assert _me(team.client("member", header=False)).json()["is_personal"] is True


def test_non_member_and_unknown_are_the_same_404(team):
    client = team.client("outsider", header=False)
    assert_envelope(_me(client, "acme"), 404, "TENANT_NOT_FOUND")
    assert_envelope(_me(client, "no-such-org"), 404, "TENANT_NOT_FOUND")
    assert_envelope(_me(client, "x" * 65), 404, "TENANT_NOT_FOUND")


def test_suspended_organization_and_membership_are_403(team):
    team.organization.status = OrganizationStatus.SUSPENDED
    team.organization.save()
    assert_envelope(_me(team.client("owner", header=False), "acme"), 403, "TENANT_SUSPENDED")
    team.organization.status = OrganizationStatus.ACTIVE
    team.organization.save()
    team.organization.memberships.filter(user=team.users["viewer"]).update(
        status=MembershipStatus.SUSPENDED
    )
    from tenants.resolution import memberships_cache_clear

    memberships_cache_clear([team.users["viewer"].pk])
    assert_envelope(_me(team.client("viewer", header=False), "acme"), 403, "TENANT_SUSPENDED")
    assert _me(team.client("viewer", header=False)).status_code == 200  # personal still works
