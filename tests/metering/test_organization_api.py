"""The organization's usage and quota endpoints (roles, sums, isolation), the member's
/usage inside the current organization, and every door charging the organization."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.tokens import issue_tokens
from metering.models import (
    OrganizationQuota,
    QuotaReservation,
    ReservationStatus,
    UsageKind,
    UsageRecord,
)
from ops.models import AuditEvent
from tenants.models import MemberRole, Membership
from tests.accounts.helpers import assert_envelope
from tests.factories import UserFactory
from tests.metering.orgs import organization_with

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 20, 15, 0, tzinfo=dt.UTC)
USAGE = "/api/v1/organizations/current/usage"
QUOTAS = "/api/v1/organizations/current/quotas"
ROLES = ["owner", MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER]


def client_in(user, organization=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
            HTTP_X_TENANT_ID=str(organization.pk),
        )
    return client


def _record(user, organization, *, total: int, model="gpt-x", ago=dt.timedelta(hours=1)):
    return UsageRecord.objects.create(
        user=user,
        organization_id=organization.pk,
        kind=UsageKind.CHAT,
        provider="offline",
        model=model,
        prompt_tokens=total // 2,
        completion_tokens=total - total // 2,
        total_tokens=total,
        created_at=NOW - ago,
    )


@pytest.fixture
def team():
    """Acme with an owner, an admin, a member and a viewer (in ``ROLES`` order)."""
    organization, users = organization_with(MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER)
    return organization, dict(zip(ROLES, users, strict=True))


# --- role matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("admin", True), ("member", False), ("viewer", False)],
)
def test_role_matrix_of_the_organization_endpoints(team, role, allowed):
    organization, users = team
    client = client_in(users[role], organization)
    calls = [
        client.get(USAGE),
        client.get(QUOTAS),
        client.put(QUOTAS, {"member_daily_tokens": 1000}, format="json"),
    ]
    for response in calls:
        if allowed:
            assert response.status_code == 200, response.content
        else:
            assert_envelope(response, 403, "PERMISSION_DENIED")
    changed = OrganizationQuota.objects.filter(organization=organization, member_daily_tokens=1000)
    assert changed.exists() is allowed


def test_a_non_member_gets_tenant_not_found(team):
    organization, _ = team
    outsider = client_in(UserFactory(), organization)
    for response in (
        outsider.get(USAGE),
        outsider.get(QUOTAS),
        outsider.put(QUOTAS, {"daily_tokens": 1}, format="json"),
    ):
        assert_envelope(response, 404, "TENANT_NOT_FOUND")
    assert not OrganizationQuota.objects.filter(daily_tokens=1).exists()


def test_an_admin_of_another_organization_sees_only_their_own(team):
    organization, users = team
    other, (other_owner,) = organization_with(name="Other")
    _record(users["member"], organization, total=500)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"daily_tokens": 777}
    )
    with time_machine.travel(NOW, tick=False):
        client = client_in(other_owner, other)
        usage = client.get(USAGE).json()
        quotas = client.get(QUOTAS).json()
    assert usage["organization_id"] == str(other.pk) and usage["window"]["total_tokens"] == 0
    assert quotas["organization_id"] == str(other.pk) and quotas["daily_tokens"] is None


def test_needs_authentication(api_client):
    assert_envelope(api_client.get(USAGE), 401)
    assert_envelope(api_client.put(QUOTAS, {}, format="json"), 401)


# --- quotas ----------------------------------------------------------------------------------


def test_put_validates_audits_and_applies_at_once(team, settings):
    settings.AI_MAX_TOKENS = 100
    organization, users = team
    owner = client_in(users["owner"], organization)
    assert_envelope(owner.put(QUOTAS, {"daily_tokens": -1}, format="json"), 400)
    body = assert_envelope(
        owner.put(QUOTAS, {"daily_tokens": 100, "member_daily_tokens": 500}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert "member_daily_tokens" in body["details"]
    assert not AuditEvent.objects.filter(action="organization.quota_changed").exists()

    member = client_in(users["member"], organization)
    assert member.post("/api/v1/chat/message", {"message": "hello"}).status_code == 200
    response = owner.put(QUOTAS, {"daily_tokens": 50, "monthly_tokens": 10**6}, format="json")
    assert response.status_code == 200
    assert response.json()["daily_tokens"] == 50
    assert response.json()["member_daily_tokens"] is None
    event = AuditEvent.objects.get(action="organization.quota_changed")
    assert (
        event.details["new"]["daily_tokens"] == 50 and event.details["old"]["daily_tokens"] is None
    )
    # The cached "no limits" is gone: the next call is refused by the organization's budget.
    body = assert_envelope(member.post("/api/v1/chat/message", {"message": "hello"}), 429)
    assert body["details"]["scope"] == "organization" and body["details"]["period"] == "day"
    refused = member.post("/api/v1/chat/message", {"message": "hello"})
    assert int(refused["Retry-After"]) > 0
    # A PUT without a field leaves it; null removes a limit.
    owner.put(QUOTAS, {"daily_tokens": None}, format="json")
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 10**6
    assert member.post("/api/v1/chat/message", {"message": "hello"}).status_code == 200


# --- usage -----------------------------------------------------------------------------------


def test_organization_usage_by_member_and_model_counts_nothing_of_another(team):
    organization, users = team
    other, (stranger,) = organization_with(name="Other")
    member, admin = users["member"], users["admin"]
    Membership.objects.create(organization=other, user=member, role=MemberRole.MEMBER)
    _record(member, organization, total=100, model="gpt-x")
    _record(member, organization, total=30, model="gpt-y", ago=dt.timedelta(days=2))
    _record(admin, organization, total=50, model="gpt-x")
    _record(admin, organization, total=9999, ago=dt.timedelta(days=40))  # outside 30 days
    _record(member, other, total=700)  # the same member, in another organization
    _record(stranger, other, total=800)
    with time_machine.travel(NOW, tick=False):
        data = client_in(users["owner"], organization).get(USAGE).json()
        week = client_in(users["admin"], organization).get(f"{USAGE}?days=1").json()
        assert_envelope(client_in(users["owner"], organization).get(f"{USAGE}?days=0"), 400)
    assert data["organization_id"] == str(organization.pk) and data["days"] == 30
    assert (data["window"]["total_tokens"], data["window"]["requests"]) == (180, 3)
    by_member = {
        row["user_id"]: (row["total_tokens"], row["requests"]) for row in data["by_member"]
    }
    assert by_member == {member.pk: (130, 2), admin.pk: (50, 1)}
    emails = {row["email"] for row in data["by_member"]}
    assert emails == {member.email, admin.email}
    models = {(r["model"], r["kind"]): r["total_tokens"] for r in data["window"]["by_model"]}
    assert models == {("gpt-x", "chat"): 150, ("gpt-y", "chat"): 30}
    assert {row["day"]: row["total_tokens"] for row in data["daily"]} == {
        "2026-05-18": 30,
        "2026-05-20": 150,
    }
    assert week["window"]["total_tokens"] == 150
    assert data["quota"]["organization"]["daily"]["limit"] is None


def test_own_usage_is_the_current_organizations(team):
    organization, users = team
    member = users["member"]
    personal = Membership.objects.get(user=member, is_default=True).organization
    _record(member, organization, total=100)
    _record(member, personal, total=7)
    OrganizationQuota.objects.update_or_create(
        organization=organization, defaults={"member_daily_tokens": 1000}
    )
    with time_machine.travel(NOW, tick=False):
        in_team = client_in(member, organization).get("/api/v1/usage").json()
        at_home = client_in(member).get("/api/v1/usage").json()
    assert in_team["organization_id"] == str(organization.pk)
    assert in_team["today"]["total_tokens"] == 100 and at_home["today"]["total_tokens"] == 7
    assert in_team["organization_quota"]["member"]["daily"]["limit"] == 1000
    assert at_home["organization_quota"]["member"]["daily"]["limit"] is None


# --- every door charges the organization it runs in ------------------------------------------


def _door_calls(client):
    yield "chat", client.post("/api/v1/chat/message", {"message": "hi"})
    yield "generate", client.post("/api/v1/ai/generate", {"prompt": "an idea"}, format="json")
    yield (
        "batch",
        client.post("/api/v1/ai/generate/batch", {"prompts": ["a", "b"]}, format="json"),
    )
    yield (
        "completions",
        client.post(
            "/v1/chat/completions",
            {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]},
            format="json",
        ),
    )
    yield (
        "embeddings",
        client.post(
            "/v1/embeddings", {"model": "fake-embed", "input": "alpha beta"}, format="json"
        ),
    )


def test_every_door_reserves_and_records_in_the_current_organization(team, settings, fake_openai):
    fake_openai.configure(settings)
    organization, users = team
    member = users["member"]
    client = client_in(member, organization)
    for door, response in _door_calls(client):
        assert response.status_code in (200, 201), (door, response.content)
    records = UsageRecord.objects.filter(user=member)
    assert records.count() >= 6
    assert set(records.values_list("organization_id", flat=True)) == {organization.pk}
    reservations = QuotaReservation.objects.filter(user=member)
    assert reservations.count() == 5
    assert set(reservations.values_list("organization_id", flat=True)) == {organization.pk}
    assert set(reservations.values_list("status", flat=True)) == {ReservationStatus.SETTLED}


def test_console_edits_organization_quotas_through_the_service(client, admin_user, team):
    organization, _ = team
    # Billing gives every organization its row; the console adds one where there is none.
    OrganizationQuota.objects.filter(organization=organization).delete()
    client.force_login(admin_user)
    url = "/admin/metering/organizationquota/add/"
    assert client.get(url).status_code == 200
    form = {
        "organization": organization.pk,
        "daily_tokens": "100",
        "monthly_tokens": "",
        "member_daily_tokens": "500",
        "member_monthly_tokens": "",
        "training_monthly_tokens": "",
    }
    response = client.post(url, form)
    assert response.status_code == 200 and b"must not exceed" in response.content.lower()
    assert not OrganizationQuota.objects.filter(organization=organization).exists()
    response = client.post(url, {**form, "member_daily_tokens": "50"})
    assert response.status_code == 302, response.content
    quota = OrganizationQuota.objects.get(organization=organization)
    assert (quota.daily_tokens, quota.member_daily_tokens, quota.monthly_tokens) == (100, 50, None)
    event = AuditEvent.objects.get(action="organization.quota_changed")
    assert event.details["new"]["member_daily_tokens"] == 50
    assert client.get("/admin/metering/organizationquota/").status_code == 200
