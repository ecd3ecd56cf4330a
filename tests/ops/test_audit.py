"""The audit trail: every audit-worthy action leaves an AuditEvent row (one mechanism)."""

import pyotp
import pytest

from accounts.models import Role
from documents.models import Document, DocumentStatus
from ops.models import AuditEvent
from tests.accounts.helpers import login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _events(action: str):
    return list(AuditEvent.objects.filter(action=action))


def test_login_success_and_failure_are_recorded_with_ip_and_request_id(api_client, user, password):
    assert login(api_client, user.email, "wrong password").status_code == 401
    ok = login(api_client, user.email, password, HTTP_X_REQUEST_ID="req-audit-1")
    assert ok.status_code == 200

    [failed] = _events("login_failed")
    assert failed.target_id == str(user.pk)
    assert failed.actor is None
    assert failed.details["reason"] == "bad_credentials"
    assert failed.ip == "127.0.0.1"
    [succeeded] = _events("login_succeeded")
    assert succeeded.actor == user and succeeded.actor_email == user.email
    assert succeeded.request_id == "req-audit-1"
    # Secrets never reach the trail.
    assert password not in str(AuditEvent.objects.values_list("details", flat=True))


def test_mfa_enable_and_disable_are_recorded(user_client, user, password):
    setup = user_client.post("/api/v1/auth/mfa/enable", {"password": password}).json()
    code = pyotp.TOTP(setup["secret"]).now()
    confirm = user_client.post(
        "/api/v1/auth/mfa/confirm", {"code": code, "password": password}, format="json"
    )
    assert confirm.status_code == 200
    assert [e.actor for e in _events("mfa_enabled")] == [user]


def test_role_change_and_suspension_are_recorded(admin_client_api, admin_user):
    member = UserFactory(role=Role.USER)
    response = admin_client_api.patch(
        f"/api/v1/users/{member.pk}", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 200
    [changed] = _events("role_changed")
    assert changed.actor == admin_user and changed.target_id == str(member.pk)
    assert changed.details == {"old_role": "user", "new_role": "viewer"}

    assert admin_client_api.post(f"/api/v1/users/{member.pk}/suspend").status_code in (200, 204)
    [suspended] = _events("user_suspended")
    assert suspended.actor == admin_user and suspended.target_repr


def test_quota_and_flag_changes_are_recorded(admin_client_api, admin_user, user):
    admin_client_api.put(f"/api/v1/admin/quotas/{user.pk}", {"daily_tokens": 1234}, format="json")
    [quota] = _events("quota_changed")
    assert quota.actor == admin_user and quota.target_id == str(user.pk)
    assert quota.details["new"]["daily_tokens"] == 1234
    assert quota.details["old"]["daily_tokens"] is None

    admin_client_api.post(
        "/api/v1/admin/feature-flags", {"name": "rag_enabled", "enabled": False}, format="json"
    )
    [flag] = _events("feature_flag_changed")
    assert flag.details == {"flag": "rag_enabled", "old": True, "new": False}


def test_document_deletion_is_recorded(user_client, user):
    document = Document.objects.create(
        owner=user,
        title="Handbook",
        original_name="handbook.txt",
        file_type="text",
        size_bytes=10,
        sha256="0" * 64,
        status=DocumentStatus.READY,
    )
    assert user_client.delete(f"/api/v1/documents/{document.pk}").status_code == 204
    [deleted] = _events("document_deleted")
    assert deleted.actor == user
    assert deleted.details["document_id"] == str(document.pk)
    assert deleted.details["title"] == "Handbook"


def test_audit_events_cannot_be_changed_or_deleted_in_the_admin(client, api_client, admin_user):
    login(api_client, admin_user.email, "nope")
    client.force_login(admin_user)
    event = AuditEvent.objects.get()
    assert client.get(f"/admin/ops/auditevent/{event.pk}/change/").status_code == 200
    before = AuditEvent.objects.values().get()
    client.post(f"/admin/ops/auditevent/{event.pk}/change/", {"action": "tampered"})
    assert AuditEvent.objects.values().get() == before
    assert (
        client.post(f"/admin/ops/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert client.get("/admin/ops/auditevent/add/").status_code == 403
    assert AuditEvent.objects.count() == 1
