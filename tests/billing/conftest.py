"""Fixtures of the billing tests: plans, an owner in their organization, the fake Stripe."""

import pytest
from rest_framework.test import APIClient

from billing.models import OveragePolicy, Plan, Subscription
from billing.services.subscriptions import free_plan
from tenants.models import MemberRole, Membership
from tests.factories import UserFactory

WEBHOOK_SECRET = "whsec_test_secret"


def make_plan(code: str, **fields) -> Plan:
    defaults = {
        "name": code.title(),
        "price_minor": 0,
        "currency": "EUR",
        "interval": "month",
        "stripe_price_id": f"price_{code}",
    }
    defaults.update(fields)
    return Plan.objects.create(code=code, **defaults)


@pytest.fixture
def plans(db):
    """starter < pro (monthly), metered (bills overage); the free plan comes from the migration."""
    return {
        "free": free_plan(),
        "starter": make_plan(
            "starter",
            price_minor=900,
            monthly_tokens=100_000,
            max_members=3,
            max_documents=10,
            max_storage_bytes=10_000_000,
            allowed_models=["gpt-4o-mini"],
            feature_flags={"rag_enabled": False},
        ),
        "pro": make_plan(
            "pro",
            price_minor=2000,
            monthly_tokens=1_000_000,
            max_members=10,
            max_documents=100,
            allowed_models=["gpt-4o-mini", "gpt-4o"],
            feature_flags={"rag_enabled": True},
        ),
        "metered": make_plan(
            "metered",
            price_minor=1000,
            monthly_tokens=1_000,
            overage_policy=OveragePolicy.BILL,
            overage_price_per_1k_minor=50,
        ),
    }


def client_for(user, organization=None) -> APIClient:
    from accounts.tokens import issue_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
            HTTP_X_TENANT_ID=str(organization.pk),
        )
    return client


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def organization(owner):
    return Membership.objects.get(user=owner, is_default=True).organization


@pytest.fixture
def owner_client(owner, organization):
    return client_for(owner, organization)


@pytest.fixture
def member_of(organization):
    def make(role: str = MemberRole.MEMBER):
        user = UserFactory()
        Membership.objects.create(organization=organization, user=user, role=role)
        return user, client_for(user, organization)

    return make


def subscription_of(organization) -> Subscription:
    return Subscription.all_organizations.select_related("plan", "pending_plan").get(
        organization=organization
    )


@pytest.fixture
def fake_stripe(settings):
    from tests.fakes.stripe_server import FakeStripe

    server = FakeStripe().start()
    settings.BILLING_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe_webhooks(settings):
    """Webhook settings only (no API calls needed)."""
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET
