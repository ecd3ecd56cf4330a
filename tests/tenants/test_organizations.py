"""Organizations: list mine, create, detail, update, delete, default; the role matrix."""

import pytest

from ops.models import AuditEvent
from tenants.models import Membership, Organization, OrganizationStatus
from tests.accounts.helpers import assert_envelope
from tests.tenants.conftest import ROLES

pytestmark = pytest.mark.django_db

CURRENT = "/api/v1/organizations/current"


def test_list_shows_my_organizations_with_my_role(team):
    response = team.client("admin", header=False).get("/api/v1/organizations")
    assert response.status_code == 200
    rows = {row["slug"]: row for row in response.json()["results"]}
    assert rows["acme"]["role"] == "admin"
    assert rows["acme"]["member_count"] == 4
    personal = [row for row in rows.values() if row["is_personal"]]
    assert len(personal) == 1 and personal[0]["is_default"] and personal[0]["role"] == "owner"


def test_create_makes_me_owner_and_is_audited(team):
    client = team.client("member", header=False)
    response = client.post("/api/v1/organizations", {"name": "Lab", "slug": "lab"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "owner" and body["slug"] == "lab" and not body["is_default"]
    organization = Organization.objects.get(slug="lab")
    assert AuditEvent.objects.filter(
        action="organization.create", organization_id=organization.pk
    ).exists()
    assert_envelope(client.post("/api/v1/organizations", {"name": "Lab2", "slug": "lab"}), 409)


def test_platform_viewer_account_cannot_create(viewer_client):
    assert_envelope(viewer_client.post("/api/v1/organizations", {"name": "X"}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_detail_matrix(team, role):
    response = team.client(role).get(CURRENT)
    if role == "outsider":
        assert_envelope(response, 404, "TENANT_NOT_FOUND")
        return
    assert response.status_code == 200
    assert response.json()["role"] == role
    assert response.json()["id"] == str(team.organization.pk)


def test_detail_by_id_and_slug_without_header(team):
    client = team.client("member", header=False)
    assert client.get(f"/api/v1/organizations/{team.organization.pk}").json()["slug"] == "acme"
    assert client.get("/api/v1/organizations/acme").json()["role"] == "member"
    outsider = team.client("outsider", header=False)
    assert_envelope(outsider.get("/api/v1/organizations/acme"), 404, "TENANT_NOT_FOUND")


@pytest.mark.parametrize(
    "role,status",
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_update_matrix(team, role, status):
    response = team.client(role).patch(CURRENT, {"name": "Acme Corp", "system_prompt": "Be brief."})
    assert response.status_code == status, response.content
    team.organization.refresh_from_db()
    assert (team.organization.name == "Acme Corp") == (status == 200)
    if status == 200:
        assert response.json()["system_prompt"] == "Be brief."
        event = AuditEvent.objects.get(action="organization.update")
        assert event.organization_id == team.organization.pk
        assert event.details["fields"] == ["name", "system_prompt"]


def test_allowed_models_are_checked_against_the_platform(team, settings):
    settings.AI_ALLOWED_MODELS = ["offline-chat", "bigger"]
    client = team.client("owner")
    body = assert_envelope(client.patch(CURRENT, {"allowed_models": ["gpt-9"]}, format="json"), 400)
    assert "allowed_models" in body["details"]
    response = client.patch(CURRENT, {"allowed_models": ["bigger", "bigger"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["allowed_models"] == ["bigger"]


def test_slug_change_and_conflict(team):
    client = team.client("owner")
    assert client.patch(CURRENT, {"slug": "acme-2"}).json()["slug"] == "acme-2"
    other = team.client("owner", header=False)
    other.post("/api/v1/organizations", {"name": "Taken", "slug": "taken"})
    assert_envelope(client.patch(CURRENT, {"slug": "taken"}), 409)


@pytest.mark.parametrize(
    "role,status",
    [("owner", 202), ("admin", 403), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_delete_matrix(team, role, status):
    response = team.client(role).delete(CURRENT)
    assert response.status_code == status, response.content
    team.organization.refresh_from_db()
    deleting = team.organization.status == OrganizationStatus.DELETING
    assert deleting == (status == 202)
    if deleting:
        assert AuditEvent.objects.filter(action="organization.delete_requested").exists()
        # Gone for every member at once.
        assert_envelope(team.client("member").get(CURRENT), 404, "TENANT_NOT_FOUND")


def test_personal_organization_cannot_be_deleted(user_client):
    assert_envelope(user_client.delete(CURRENT), 409, "PERSONAL_ORGANIZATION")


def test_set_default_changes_where_headerless_requests_act(team):
    client = team.client("viewer", header=False)
    assert client.get(CURRENT).json()["is_personal"] is True
    response = client.post(f"/api/v1/organizations/{team.organization.slug}/default")
    assert response.status_code == 200 and response.json()["is_default"] is True
    assert client.get(CURRENT).json()["slug"] == "acme"
    assert Membership.objects.filter(user=team.users["viewer"], is_default=True).count() == 1
