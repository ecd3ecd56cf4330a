"""The subscription router with the manual provider: info, plans, upgrade, downgrade, cancel,
resume, who may change billing, history and invoice download."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from metering.models import OrganizationQuota
from ops.flags import flag_enabled
from ops.models import AuditEvent
from tenants.models import MemberRole, Organization
from tests.accounts.helpers import assert_envelope
from tests.billing.conftest import subscription_of
from tests.factories import UserFactory


@pytest.mark.django_db
def test_every_organization_starts_on_the_free_plan(owner_client, organization):
    body = owner_client.get("/api/v1/subscription/info").json()
    assert body["subscription"]["plan"]["id"] == "free"
    assert body["subscription"]["status"] == "active"
    assert body["subscription"]["organization_id"] == str(organization.pk)
    assert body["can_manage"] is True
    # A new organization (not only the personal one) gets one too.
    other = Organization.objects.create(name="Acme", slug="acme")
    assert subscription_of(other).plan.code == "free"


@pytest.mark.django_db
def test_plans_are_public_and_list_current_versions(plans):
    response = APIClient().get("/api/v1/subscription/plans")
    assert response.status_code == 200
    ids = [plan["id"] for plan in response.json()]
    assert {"free", "starter", "pro", "metered"} <= set(ids)
    pro = next(plan for plan in response.json() if plan["id"] == "pro")
    assert pro["price_minor"] == 2000 and isinstance(pro["price_minor"], int)
    assert pro["currency"] == "EUR"


@pytest.mark.django_db
def test_upgrade_applies_at_once_with_entitlements_invoice_and_audit(
    plans, owner_client, organization
):
    response = owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["action"] == "applied"
    subscription = subscription_of(organization)
    assert subscription.plan == plans["pro"]
    assert subscription.status == SubscriptionStatus.ACTIVE
    organization.refresh_from_db()
    assert organization.max_members == 10
    assert organization.max_documents == 100
    assert organization.allowed_models == ["gpt-4o-mini", "gpt-4o"]
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 1_000_000
    invoice = Invoice.all_organizations.get(organization=organization)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.total_minor == 2000
    assert invoice.number.startswith("INV-")
    assert AuditEvent.objects.filter(
        action="billing.plan_changed", organization_id=organization.pk
    ).exists()


@pytest.mark.django_db
def test_downgrade_waits_for_the_period_end_unless_asked_now(plans, owner_client, organization):
    owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    response = owner_client.post("/api/v1/subscription/upgrade/starter", {}, format="json")
    assert response.json()["action"] == "scheduled"
    subscription = subscription_of(organization)
    assert subscription.plan == plans["pro"]
    assert subscription.pending_plan == plans["starter"]
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 1_000_000

    # Choosing "now" lowers the limits in the same request.
    response = owner_client.post(
        "/api/v1/subscription/upgrade/starter", {"when": "now"}, format="json"
    )
    assert response.json()["action"] == "applied"
    subscription = subscription_of(organization)
    assert subscription.plan == plans["starter"]
    assert subscription.pending_plan is None
    organization.refresh_from_db()
    assert organization.max_members == 3
    assert organization.allowed_models == ["gpt-4o-mini"]
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens == 100_000
    from core.tenancy import organization_scope

    with organization_scope(organization.pk):
        assert flag_enabled("rag_enabled") is False  # the starter plan's flag


@pytest.mark.django_db
def test_unknown_or_same_plan(plans, owner_client):
    assert_envelope(
        owner_client.post("/api/v1/subscription/upgrade/nope", {}, format="json"),
        404,
        "PLAN_NOT_FOUND",
    )
    assert_envelope(
        owner_client.post("/api/v1/subscription/upgrade/free", {}, format="json"), 409, "SAME_PLAN"
    )


@pytest.mark.django_db
def test_only_the_owner_changes_billing_unless_admins_are_allowed(
    plans, owner_client, member_of, organization
):
    _, member = member_of(MemberRole.MEMBER)
    _, admin = member_of(MemberRole.ADMIN)
    assert_envelope(member.post("/api/v1/subscription/upgrade/pro", {}, format="json"), 403)
    assert_envelope(admin.post("/api/v1/subscription/upgrade/pro", {}, format="json"), 403)
    # Only the owner decides whether admins may.
    assert_envelope(
        admin.patch("/api/v1/subscription/settings", {"admins_may_manage": True}, format="json"),
        403,
    )
    response = owner_client.patch(
        "/api/v1/subscription/settings", {"admins_may_manage": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["admins_may_manage"] is True
    assert admin.post("/api/v1/subscription/upgrade/pro", {}, format="json").status_code == 200
    assert_envelope(member.post("/api/v1/subscription/cancel", {}, format="json"), 403)
    # Members read the subscription, but not the invoices.
    assert member.get("/api/v1/subscription/info").json()["can_manage"] is False
    assert_envelope(member.get("/api/v1/billing/history"), 403)


@pytest.mark.django_db
def test_cancel_at_period_end_is_resumable_and_then_falls_back_to_free(
    plans, owner_client, organization
):
    from billing.services.periods import billing_periods_close

    owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    response = owner_client.post("/api/v1/subscription/cancel", {}, format="json")
    assert response.status_code == 200 and response.json()["cancel_at_period_end"] is True
    assert subscription_of(organization).plan == plans["pro"]  # until the end
    response = owner_client.post("/api/v1/subscription/resume")
    assert response.json()["cancel_at_period_end"] is False
    assert_envelope(owner_client.post("/api/v1/subscription/resume"), 409, "NOT_CANCELING")
    owner_client.post("/api/v1/subscription/cancel", {}, format="json")

    end = subscription_of(organization).current_period_end
    billing_periods_close(now=end + dt.timedelta(minutes=1))
    subscription = subscription_of(organization)
    assert subscription.plan.code == "free"
    assert subscription.cancel_at_period_end is False
    assert subscription.current_period_start == end
    organization.refresh_from_db()
    assert organization.max_members is None
    assert OrganizationQuota.objects.get(organization=organization).monthly_tokens is None
    # No fee for a period on the free plan.
    assert Invoice.all_organizations.filter(organization=organization).count() == 1


@pytest.mark.django_db
def test_cancel_immediately_and_the_free_plan_cannot_be_cancelled(
    plans, owner_client, organization
):
    assert_envelope(
        owner_client.post("/api/v1/subscription/cancel", {}, format="json"),
        409,
        "NOTHING_TO_CANCEL",
    )
    owner_client.post("/api/v1/subscription/upgrade/starter", {}, format="json")
    response = owner_client.post(
        "/api/v1/subscription/cancel", {"immediately": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["plan"]["id"] == "free"
    organization.refresh_from_db()
    assert organization.max_members is None and organization.allowed_models == []


@pytest.mark.django_db
def test_history_is_paginated_and_an_invoice_downloads_as_html(plans, owner_client, organization):
    owner_client.post("/api/v1/subscription/upgrade/starter", {}, format="json")
    owner_client.post("/api/v1/subscription/upgrade/pro", {}, format="json")
    response = owner_client.get("/api/v1/billing/history?page_size=1")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    invoice = body["results"][0]
    assert all(isinstance(line["amount_minor"], int) for line in invoice["lines"])
    download = owner_client.get(invoice["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/html")
    html = download.content.decode()
    assert invoice["number"] in html and organization.name in html

    # Another organization's invoice is not found.
    stranger = UserFactory()
    from tests.billing.conftest import client_for

    assert_envelope(client_for(stranger).get(invoice["download_url"]), 404)


@pytest.mark.django_db
def test_usage_by_model_and_member_against_the_entitlements(
    plans, owner, owner_client, organization
):
    from metering.models import UsageRecord

    owner_client.post("/api/v1/subscription/upgrade/starter", {}, format="json")
    for tokens, model in ((300, "gpt-4o-mini"), (200, "gpt-4o-mini"), (50, "gpt-4o")):
        UsageRecord.objects.create(
            user=owner,
            organization=organization,
            kind="chat",
            provider="openai",
            model=model,
            total_tokens=tokens,
        )
    # Another organization's usage is not counted.
    UsageRecord.objects.create(
        user=owner, organization=None, kind="chat", provider="openai", model="x", total_tokens=9
    )
    body = owner_client.get("/api/v1/subscription/usage").json()
    assert body["tokens"] == {
        "used": 550,
        "allowance": 100_000,
        "remaining": 99_450,
        "overage": 0,
        "overage_policy": "block",
    }
    assert body["members"] == {"used": 1, "limit": 3}
    assert [row["model"] for row in body["by_model"]] == ["gpt-4o-mini", "gpt-4o"]
    assert body["by_member"][0]["email"] == owner.email
    assert body["by_member"][0]["total_tokens"] == 550
