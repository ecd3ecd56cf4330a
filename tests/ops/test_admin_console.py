"""The Django admin as the management console: pages, dashboard, fast list pages."""

import datetime as dt

import pytest
from django.utils import timezone

from chat.models import ChatMessage, ChatSession
from documents.models import Document, DocumentStatus
from metering.models import Quota, UsageKind, UsageRecord
from ops.audit import audit_log
from ops.flags import flag_enabled
from ops.models import AuditEvent, FeatureFlag
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/",
    "/admin/metering/usagerecord/",
    "/admin/metering/quota/",
    "/admin/metering/quota/add/",
    "/admin/ops/featureflag/",
    "/admin/ops/auditevent/",
    "/admin/chat/chatsession/",
    "/admin/chat/chatmessage/",
    "/admin/documents/document/",
]


@pytest.fixture
def admin_web(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("url", PAGES)
def test_pages_render_for_an_admin_and_refuse_others(url, client, admin_user, user, viewer_user):
    for outsider in (user, viewer_user):
        client.force_login(outsider)
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_dashboard_shows_the_stats(admin_web, user):
    UserFactory(is_active=False)
    UsageRecord.objects.create(
        user=user, kind=UsageKind.CHAT, provider="offline", model="m", total_tokens=4321
    )
    html = admin_web.get("/admin/").content.decode()
    assert 'data-stat="users-total">3<' in html
    assert 'data-stat="tokens-24h">4321<' in html
    assert user.email in html  # top users
    assert "Management console" in html and "Usage records" in html


def test_usage_records_filter_by_date(admin_web, user):
    old = timezone.now() - dt.timedelta(days=40)
    for created, model in ((timezone.now(), "fresh-model"), (old, "stale-model")):
        UsageRecord.objects.create(
            user=user, kind=UsageKind.CHAT, provider="p", model=model, created_at=created
        )
    since = (timezone.now() - dt.timedelta(days=7)).isoformat()
    html = admin_web.get(
        "/admin/metering/usagerecord/", {"created_at__gte": since}
    ).content.decode()
    assert 'field-model">fresh-model<' in html
    assert 'field-model">stale-model<' not in html


def test_flag_change_in_the_admin_takes_effect_and_is_audited(admin_web, admin_user):
    assert flag_enabled("rag_enabled") is True
    response = admin_web.post(
        "/admin/ops/featureflag/add/",
        {"name": "rag_enabled", "enabled": "", "description": "retrieval"},
    )
    assert response.status_code == 302, response.content
    assert flag_enabled("rag_enabled") is False  # cache invalidated
    assert FeatureFlag.objects.get(name="rag_enabled").updated_by == admin_user
    assert AuditEvent.objects.filter(action="feature_flag_changed", actor=admin_user).exists()


def test_quota_change_in_the_admin_is_audited(admin_web, admin_user, user):
    response = admin_web.post(
        "/admin/metering/quota/add/",
        {"user": user.pk, "daily_tokens": "777", "monthly_tokens": "", "max_concurrent": ""},
    )
    assert response.status_code == 302, response.content
    quota = Quota.objects.get(user=user)
    assert (quota.daily_tokens, quota.monthly_tokens) == (777, None)
    event = AuditEvent.objects.get(action="quota_changed")
    assert event.actor == admin_user and event.details["new"]["daily_tokens"] == 777


def test_usage_records_are_read_only(admin_web, user):
    record = UsageRecord.objects.create(
        user=user, kind=UsageKind.CHAT, provider="p", model="m", total_tokens=5
    )
    admin_web.post(f"/admin/metering/usagerecord/{record.pk}/change/", {"total_tokens": 0})
    record.refresh_from_db()
    assert record.total_tokens == 5
    assert admin_web.get("/admin/metering/usagerecord/add/").status_code == 403


# --- list pages: query count independent of the number of rows ---------------------------


def _seed(kind: str, n: int) -> None:
    users = [UserFactory() for _ in range(3)]
    for i in range(n):
        owner = users[i % 3]
        if kind == "usage":
            UsageRecord.objects.create(
                user=owner, kind=UsageKind.CHAT, provider="p", model="m", total_tokens=i
            )
        elif kind == "audit":
            audit_log(action="login_succeeded", actor=owner, target=owner)
        elif kind == "quota":
            Quota.objects.create(user=UserFactory(), daily_tokens=i)
        elif kind == "flag":
            FeatureFlag.objects.create(name=f"flag-{n}-{i}", updated_by=owner)
        elif kind == "session" or kind == "message":
            session = ChatSession.objects.create(user=owner, title=f"s{i}")
            ChatMessage.objects.create(session=session, user=owner, message="q")
        elif kind == "document":
            Document.objects.create(
                owner=owner,
                title=f"d{i}",
                original_name="d.txt",
                file_type="text",
                size_bytes=1,
                sha256=f"{i:064d}",
                status=DocumentStatus.READY,
            )


LISTS = {
    "usage": "/admin/metering/usagerecord/",
    "audit": "/admin/ops/auditevent/",
    "quota": "/admin/metering/quota/",
    "flag": "/admin/ops/featureflag/",
    "session": "/admin/chat/chatsession/",
    "message": "/admin/chat/chatmessage/",
    "document": "/admin/documents/document/",
}


@pytest.mark.parametrize("kind", sorted(LISTS))
def test_list_page_query_count_does_not_grow_with_rows(
    kind, admin_web, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _seed(kind, 5)
    with CaptureQueriesContext(connection) as small:
        assert admin_web.get(LISTS[kind]).status_code == 200
    _seed(kind, 50)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = admin_web.get(LISTS[kind])
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/admin/ai/document/", "/admin/documents/document/"),
        ("/admin/ai/usagerecord/?kind=chat", "/admin/metering/usagerecord/?kind=chat"),
        ("/admin/ai/quota/add/", "/admin/metering/quota/add/"),
        ("/admin/accounts/auditevent/7/change/", "/admin/ops/auditevent/7/change/"),
        ("/admin/accounts/featureflag/", "/admin/ops/featureflag/"),
    ],
)
def test_console_pages_of_moved_models_redirect_to_their_new_app(client, old, new):
    # Bookmarks from before the ai app was carved (issue 14) still lead to the page.
    response = client.get(old)
    assert response.status_code == 301
    assert response["Location"] == new
    assert client.post(old).status_code == 405
