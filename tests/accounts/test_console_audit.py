"""Every console change goes through the services and leaves an audit event (issue 22, item 5).

The walk covers EVERY registered ModelAdmin whose change form can be submitted: a new admin
(or one that becomes editable) fails ``test_every_editable_admin_is_walked`` until it is added
to ``CHANGES`` - with a change that is audited.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from accounts.models import Role, User
from documents.models import Document, DocumentStatus
from metering.models import Quota
from ops.models import AuditEvent, FeatureFlag
from tests.admin_forms import change_form_data
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _user(_admin: User) -> User:
    return UserFactory(role=Role.USER)


def _session(_admin: User) -> Any:
    session = ChatSessionFactory()
    ChatMessageFactory(session=session)  # the read-only transcript inline is on the form too
    return session


def _document(_admin: User) -> Document:
    return Document.objects.create(
        owner=UserFactory(),
        title="Report",
        file_type="text",
        sha256="a" * 64,
        status=DocumentStatus.READY,
    )


def _quota(_admin: User) -> Quota:
    return Quota.objects.create(user=UserFactory(), daily_tokens=1000)


def _flag(_admin: User) -> FeatureFlag:
    return FeatureFlag.objects.create(name="rag_enabled", enabled=True)


def _plan(_admin: User) -> Any:
    from billing.models import Plan

    return Plan.objects.create(code="team", name="Team", price_minor=1500)


def _organization(_admin: User) -> Any:
    from tenants.models import Membership, Organization

    organization = Organization.objects.create(name="Console Org", slug="console-org")
    Membership.objects.create(organization=organization, user=UserFactory(), role="owner")
    return organization


def _organization_quota(_admin: User) -> Any:
    from metering.models import OrganizationQuota
    from tenants.models import Organization

    organization = Organization.objects.create(name="Quota Org", slug="quota-org")
    return OrganizationQuota.objects.get_or_create(organization=organization)[0]


# model label -> (instance factory, form changes, expected audit action)
CHANGES: dict[str, tuple[Callable[[User], Any], dict[str, Any], str]] = {
    "accounts.user": (_user, {"full_name": "Changed In Console"}, "user_updated"),
    "billing.plan": (_plan, {"description": "For teams"}, "billing.plan_changed_in_place"),
    "chat.chatsession": (_session, {"title": "Renamed by an admin"}, "chat_session_updated"),
    "documents.document": (_document, {"title": "Renamed report"}, "document_updated"),
    "metering.quota": (_quota, {"daily_tokens": "2500"}, "quota_changed"),
    "metering.organizationquota": (
        _organization_quota,
        {"monthly_tokens": "5000"},
        "organization.quota_changed",
    ),
    "ops.featureflag": (_flag, {"enabled": False}, "feature_flag_changed"),
    "tenants.organization": (_organization, {"name": "Renamed Org"}, "organization.console_change"),
}


def _submittable_admins(admin_user: User) -> dict[str, Any]:
    """Registered ModelAdmins whose change form accepts a POST from a full admin."""
    request = RequestFactory().post("/")
    request.user = admin_user
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_change_permission(request)
    }


def test_every_editable_admin_is_walked(admin_user):
    assert set(_submittable_admins(admin_user)) == set(CHANGES)


@pytest.mark.parametrize("label", sorted(CHANGES))
def test_each_change_form_saves_through_a_service_and_is_audited(admin_user, label):
    factory, changes, action = CHANGES[label]
    instance = factory(admin_user)
    client = Client()
    client.force_login(admin_user)
    opts = instance._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{instance.pk}/change/"
    data = change_form_data(client.get(url))
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = value
    AuditEvent.objects.all().delete()
    response = client.post(url, data)
    assert response.status_code == 302, _form_errors(response)
    events = AuditEvent.objects.filter(action=action, actor=admin_user)
    assert events.count() == 1, list(AuditEvent.objects.values_list("action", flat=True))
    # The target is the row, or whom it is about (its user, its organization).
    about = (str(getattr(instance, "user_id", "")), str(getattr(instance, "organization_id", "")))
    assert events.get().target_id in ("", str(instance.pk), *about)
    instance.refresh_from_db()
    for key, value in changes.items():
        stored = getattr(instance, key)
        assert (stored is False) if value is False else str(stored) == str(value)


def _form_errors(response: Any) -> str:
    context = getattr(response, "context", None) or {}
    form = context.get("adminform")
    return str(form.form.errors) if form else response.content.decode()[:2000]


@pytest.mark.parametrize(
    "path", ["/admin/chat/chatmessage/{pk}/change/", "/admin/token_blacklist/outstandingtoken/"]
)
def test_view_only_admins_refuse_a_posted_change(admin_user, path):
    message = ChatMessageFactory()
    client = Client()
    client.force_login(admin_user)
    url = path.format(pk=message.pk)
    assert client.get(url).status_code == 200
    if "{pk}" in path:
        before = message.response
        assert client.post(url, {"response": "rewritten"}).status_code == 403
        message.refresh_from_db()
        assert message.response == before


def test_groups_and_the_token_blacklist_are_not_editable(admin_user):
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/auth/group/add/").status_code == 404
    assert client.get("/admin/token_blacklist/blacklistedtoken/add/").status_code == 403
