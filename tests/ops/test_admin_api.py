"""The admin API: stats on a seeded data set, quota overrides, access control."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import issue_tokens
from chat.models import ChatMessage, ChatSession
from documents.models import Document, DocumentStatus
from metering.models import Quota, UsageKind, UsageRecord
from tests.accounts.helpers import assert_envelope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
STATS = "/api/v1/admin/stats"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    return client


def _doc(owner, status, n):
    return Document.objects.create(
        owner=owner,
        title=f"doc {n}",
        original_name=f"d{n}.txt",
        file_type="text",
        size_bytes=1,
        sha256=f"{n:064d}",
        status=status,
    )


def _usage(user, total, ago):
    UsageRecord.objects.create(
        user=user,
        kind=UsageKind.CHAT,
        provider="offline",
        model="m",
        prompt_tokens=total,
        total_tokens=total,
        created_at=NOW - ago,
    )


def test_stats_on_a_seeded_data_set():
    with time_machine.travel(NOW, tick=False):
        admin = UserFactory(role=Role.ADMIN, last_login=NOW - dt.timedelta(hours=1))
        alice = UserFactory(role=Role.USER)
        bob = UserFactory(role=Role.USER, last_login=NOW - dt.timedelta(days=3))
        UserFactory(role=Role.VIEWER, is_active=False)
        UserFactory(role=Role.VIEWER, last_login=NOW - dt.timedelta(days=30))

        s1 = ChatSession.objects.create(
            user=alice, title="a", created_at=NOW - dt.timedelta(hours=2)
        )
        s2 = ChatSession.objects.create(user=bob, title="b", created_at=NOW - dt.timedelta(days=2))
        ChatSession.objects.create(
            user=bob, title="c", is_active=False, created_at=NOW - dt.timedelta(days=9)
        )
        for ago in (dt.timedelta(hours=1), dt.timedelta(hours=3)):
            ChatMessage.objects.create(session=s1, user=alice, message="q", timestamp=NOW - ago)
        for ago in (dt.timedelta(days=2), dt.timedelta(days=10)):
            ChatMessage.objects.create(session=s2, user=bob, message="q", timestamp=NOW - ago)

        for n, status in enumerate(
            [
                DocumentStatus.READY,
                DocumentStatus.READY,
                DocumentStatus.FAILED,
                DocumentStatus.PENDING,
            ]
        ):
            _doc(alice, status, n)

        _usage(alice, 300, dt.timedelta(hours=2))  # alice active in 24 h
        _usage(alice, 200, dt.timedelta(days=5))
        _usage(bob, 900, dt.timedelta(days=4))
        _usage(bob, 5000, dt.timedelta(days=8))  # outside both windows

        data = client_for(admin).get(STATS).json()

    assert data["users"]["total"] == 5
    assert data["users"]["active"] == 4 and data["users"]["suspended"] == 1
    assert data["users"]["by_role"] == {"admin": 1, "user": 2, "viewer": 2}
    # 24 h: admin (login) + alice (usage); 7 d: + bob (login and usage).
    assert data["active_users"] == {"last_24h": 2, "last_7d": 3}
    assert data["sessions"] == {"total": 3, "active": 2, "created_last_24h": 1}
    assert data["messages"] == {"total": 4, "last_24h": 2, "last_7d": 3}
    assert data["documents"]["total"] == 4
    assert data["documents"]["by_status"] == {
        "pending": 1,
        "processing": 0,
        "ready": 2,
        "failed": 1,
    }
    assert data["tokens"]["last_24h"]["total_tokens"] == 300
    assert data["tokens"]["last_7d"]["total_tokens"] == 1400
    assert data["tokens"]["last_7d"]["requests"] == 3
    assert [(u["email"], u["total_tokens"]) for u in data["top_users"]] == [
        (bob.email, 900),
        (alice.email, 500),
    ]


@pytest.mark.parametrize(
    "path",
    [
        STATS,
        "/api/v1/admin/feature-flags",
        "/api/v1/admin/rate-limits",
        "/api/v1/admin/usage?user=1",
        "/api/v1/admin/quotas/1",
    ],
)
def test_admin_endpoints_refuse_non_admins(path, user_client, viewer_client, api_client):
    assert_envelope(user_client.get(path), 403)
    assert_envelope(viewer_client.get(path), 403)
    assert_envelope(api_client.get(path), 401)


def test_quota_override_get_and_put(settings, admin_client_api, admin_user, user):
    settings.QUOTA_DEFAULTS = {
        **settings.QUOTA_DEFAULTS,
        "user": {"daily_tokens": 1000, "monthly_tokens": 20000, "max_concurrent": 2},
    }
    url = f"/api/v1/admin/quotas/{user.pk}"
    data = admin_client_api.get(url).json()
    assert data["daily_tokens"] is None and data["role"] == "user"
    assert data["effective"] == {"daily_tokens": 1000, "monthly_tokens": 20000, "max_concurrent": 2}

    data = admin_client_api.put(
        url, {"daily_tokens": 50, "max_concurrent": 1}, format="json"
    ).json()
    assert (data["daily_tokens"], data["monthly_tokens"], data["max_concurrent"]) == (50, None, 1)
    assert data["effective"] == {"daily_tokens": 50, "monthly_tokens": 20000, "max_concurrent": 1}
    assert Quota.objects.get(user=user).updated_by == admin_user  # who set it is kept
    # The new limit applies to the user's next message at once.
    settings.AI_MAX_TOKENS = 100
    body = assert_envelope(client_for(user).post("/api/v1/chat/message", {"message": "hi"}), 429)
    assert body["code"] == "QUOTA_EXCEEDED"

    data = admin_client_api.put(url, {"daily_tokens": None}, format="json").json()
    assert data["daily_tokens"] is None and data["effective"]["daily_tokens"] == 1000

    assert_envelope(admin_client_api.put(url, {"daily_tokens": -1}, format="json"), 400)
    assert_envelope(admin_client_api.get("/api/v1/admin/quotas/999999"), 404)


def test_usage_stats_are_fresh(admin_client_api, user):
    _usage(user, 10, dt.timedelta(0))
    UsageRecord.objects.update(created_at=timezone.now())
    assert admin_client_api.get(STATS).json()["tokens"]["last_24h"]["total_tokens"] == 10
