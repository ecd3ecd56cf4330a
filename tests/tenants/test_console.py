"""Organizations in the management console: the list and the change page render for
platform administrators only; suspension is an audited action; tenant-owned lists filter by
organization."""

import pytest

from ops.models import AuditEvent
from tenants.models import OrganizationStatus

pytestmark = pytest.mark.django_db

TENANT_OWNED_PAGES = [
    "/admin/chat/chatsession/",
    "/admin/chat/chatmessage/",
    "/admin/documents/document/",
    "/admin/ai/generation/",
    "/admin/accounts/apikey/",
    "/admin/metering/usagerecord/",
    "/admin/ops/auditevent/",
    "/admin/ops/featureflag/",
]


@pytest.fixture
def admin_web(client, admin_user):
    client.force_login(admin_user)
    return client


def test_organization_list_shows_member_counts_and_filters_by_status(admin_web, team):
    response = admin_web.get("/admin/tenants/organization/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Acme" in content and "acme" in content
    row = next(
        line for line in content.splitlines() if "field-member_count" in line and "4" in line
    )
    assert row
    suspended = admin_web.get("/admin/tenants/organization/?status__exact=suspended")
    assert "Acme" not in suspended.content.decode()


def test_change_page_renders_members_and_invitations(admin_web, team):
    team.client("owner").post(
        "/api/v1/organizations/current/invitations", {"email": "grace@example.com"}
    )
    response = admin_web.get(f"/admin/tenants/organization/{team.organization.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "member@acme.test" in content or str(team.users["member"].pk) in content
    assert "grace@example.com" in content


def test_console_refuses_non_admins(client, team):
    client.force_login(team.users["owner"])  # an organization owner is no platform admin
    response = client.get("/admin/tenants/organization/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_suspend_and_unsuspend_actions_are_audited(admin_web, team, admin_user):
    url = "/admin/tenants/organization/"
    data = {"action": "suspend", "_selected_action": [str(team.organization.pk)]}
    assert admin_web.post(url, data).status_code == 302
    team.organization.refresh_from_db()
    assert team.organization.status == OrganizationStatus.SUSPENDED
    assert team.organization.suspended_at is not None
    event = AuditEvent.objects.get(action="organization.suspend")
    assert event.actor_id == admin_user.pk and event.organization_id == team.organization.pk
    # Members are refused at once.
    response = team.client("member").get("/api/v1/organizations/current")
    assert response.status_code == 403 and response.json()["code"] == "TENANT_SUSPENDED"
    admin_web.post(url, {**data, "action": "unsuspend"})
    team.organization.refresh_from_db()
    assert team.organization.status == OrganizationStatus.ACTIVE
    assert AuditEvent.objects.filter(action="organization.unsuspend").exists()
    assert team.client("member").get("/api/v1/organizations/current").status_code == 200


@pytest.mark.parametrize("url", TENANT_OWNED_PAGES)
def test_tenant_owned_lists_filter_by_organization(admin_web, team, url):
    # An unknown filter would redirect to ``?e=1``: the organization filter exists.
    response = admin_web.get(f"{url}?organization__id__exact={team.organization.pk}")
    assert response.status_code == 200, url
    # The filter is offered in the sidebar (Django's related-field filter).
    assert "By organization" in admin_web.get(url).content.decode(), url
