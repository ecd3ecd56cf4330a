"""GET /api/v1/usage and GET /api/v1/admin/usage: sums over the right windows (time frozen)."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.tokens import issue_tokens
from metering.models import UsageKind, UsageRecord
from tenants.models import Membership
from tests.accounts.helpers import assert_envelope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 20, 15, 0, tzinfo=dt.UTC)
USAGE = "/api/v1/usage"


def client_for(user) -> APIClient:
    """A bearer client whose token is issued at the frozen time (tokens carry iat/exp)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    return client


def _record(
    user, *, ago: dt.timedelta, total: int, kind=UsageKind.CHAT, model="gpt-x", prompt=None
):
    prompt = total // 2 if prompt is None else prompt
    return UsageRecord.objects.create(
        user=user,
        # Counted where it was made: the user's default organization (what /usage reports).
        organization_id=Membership.objects.get(user=user, is_default=True).organization_id,
        kind=kind,
        provider="offline",
        model=model,
        prompt_tokens=prompt,
        completion_tokens=total - prompt,
        total_tokens=total,
        latency_ms=10,
        created_at=NOW - ago,
    )


@pytest.fixture
def seeded(user):
    other = UserFactory()
    _record(user, ago=dt.timedelta(minutes=30), total=100)  # today, 24h, 7d
    _record(user, ago=dt.timedelta(hours=16), total=40, model="gpt-y")  # 24h + 7d, not today
    _record(user, ago=dt.timedelta(hours=2), total=8, kind=UsageKind.EMBEDDING, model="emb")
    _record(user, ago=dt.timedelta(hours=25), total=1000)  # 7d only
    _record(user, ago=dt.timedelta(days=6, hours=23), total=7)  # 7d only (just inside)
    _record(user, ago=dt.timedelta(days=7, minutes=1), total=99999)  # outside every window
    _record(other, ago=dt.timedelta(minutes=5), total=5000)  # someone else's
    return user


def test_own_usage_windows_by_model_and_kind(seeded):
    with time_machine.travel(NOW, tick=False):
        data = client_for(seeded).get(USAGE).json()
    day, week, today = data["last_24h"], data["last_7d"], data["today"]
    assert (day["total_tokens"], day["requests"]) == (148, 3)
    assert (week["total_tokens"], week["requests"]) == (1155, 5)
    assert (today["total_tokens"], today["requests"]) == (108, 2)  # since 00:00 UTC
    assert day["prompt_tokens"] + day["completion_tokens"] == day["total_tokens"]
    kinds = {row["kind"]: row["total_tokens"] for row in day["by_kind"]}
    assert kinds == {"chat": 140, "embedding": 8}
    models = {(row["model"], row["kind"]): row["total_tokens"] for row in week["by_model"]}
    assert models == {("gpt-x", "chat"): 1107, ("gpt-y", "chat"): 40, ("emb", "embedding"): 8}


def test_usage_includes_quota_left_and_reset(settings, user):
    settings.QUOTA_DEFAULTS = {
        **settings.QUOTA_DEFAULTS,
        "user": {"daily_tokens": 5000, "monthly_tokens": 90000, "max_concurrent": 2},
    }
    with time_machine.travel(NOW, tick=False):
        user_client = client_for(user)
        assert user_client.post("/api/v1/chat/message", {"message": "hi"}).status_code == 200
        data = user_client.get(USAGE).json()
    spent = UsageRecord.objects.get().total_tokens
    quota = data["quota"]
    assert quota["daily_tokens"] == 5000 and quota["monthly_tokens"] == 90000
    assert quota["daily_used"] == spent
    assert quota["remaining"] == 5000 - spent
    assert quota["resets_at"] == "2026-05-21T00:00:00Z"
    assert quota["monthly_resets_at"] == "2026-06-01T00:00:00Z"
    assert data["today"]["total_tokens"] == spent


def test_usage_needs_authentication(api_client):
    assert_envelope(api_client.get(USAGE), 401)


def test_admin_usage_of_a_user_over_n_days(admin_user, seeded):
    with time_machine.travel(NOW, tick=False):
        admin_client_api, user_client = client_for(admin_user), client_for(seeded)
        data = admin_client_api.get(f"/api/v1/admin/usage?user={seeded.pk}&days=2").json()
        assert_envelope(user_client.get(f"/api/v1/admin/usage?user={seeded.pk}"), 403)
        assert_envelope(admin_client_api.get("/api/v1/admin/usage?user=999999"), 404)
        assert_envelope(admin_client_api.get(f"/api/v1/admin/usage?user={seeded.pk}&days=0"), 400)
        week = admin_client_api.get(f"/api/v1/admin/usage?user={seeded.pk}").json()
    assert data["days"] == 2
    assert data["window"]["total_tokens"] == 1148
    assert {row["day"]: row["total_tokens"] for row in data["daily"]} == {
        "2026-05-19": 1040,
        "2026-05-20": 108,
    }
    assert week["days"] == 7 and week["window"]["total_tokens"] == 1155
