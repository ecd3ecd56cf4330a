"""The console applies the API's rules through the same services: one refusal, never a
"changed successfully" next to an error (issue 22, items 1 and 2)."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Role, User
from ops.models import AuditEvent, FeatureFlag
from tests.accounts.helpers import assert_envelope
from tests.admin_forms import change_form_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _change(console: Client, user: User, **changes: object):
    url = f"/admin/accounts/user/{user.pk}/change/"
    data = change_form_data(console.get(url))
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = value
    return console.post(url, data, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_changing_your_own_role_is_refused_with_one_message(console, admin_user):
    response = _change(console, admin_user, role=Role.USER)
    html = response.content.decode()
    assert response.status_code == 200
    # Re-shown with the service's words once, and no success message anywhere.
    assert html.count("You cannot change the role of your own account.") == 1
    assert "changed successfully" not in html
    assert _messages(response) == []
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="role_changed").exists()


def test_suspending_yourself_in_the_form_is_refused(console, admin_user):
    response = _change(console, admin_user, is_active=False)
    html = response.content.decode()
    assert html.count("You cannot suspend your own account.") == 1
    assert "changed successfully" not in html
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_the_api_refuses_the_same_change_with_the_same_words(admin_client_api, admin_user):
    body = assert_envelope(
        admin_client_api.patch(f"/api/v1/users/{admin_user.pk}", {"role": "user"}, format="json"),
        400,
    )
    assert body["message"] == "You cannot change the role of your own account."


def test_changing_another_users_role_goes_through_the_service(console, admin_user):
    other = UserFactory(role=Role.USER)
    response = _change(console, other, role=Role.VIEWER, full_name="Renamed Person")
    levels = _messages(response)
    assert [level for level, _ in levels] == ["success"]
    other.refresh_from_db()
    assert other.role == Role.VIEWER and other.full_name == "Renamed Person"
    event = AuditEvent.objects.get(action="role_changed")
    assert event.actor == admin_user and event.details == {"old_role": "user", "new_role": "viewer"}
    assert AuditEvent.objects.get(action="user_updated").details["fields"] == ["full_name"]


def test_creating_a_user_in_the_console_is_audited(console, admin_user):
    response = console.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@Example.com",
            "username": "newperson",
            "full_name": "New Person",
            "role": Role.VIEWER,
            "usable_password": "true",
            "password1": "another horse battery 9",
            "password2": "another horse battery 9",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.person@example.com")
    assert user.role == Role.VIEWER and user.check_password("another horse battery 9")
    event = AuditEvent.objects.get(action="user_created")
    assert event.actor == admin_user and event.target_id == str(user.pk)


MISSPELLED = "rag_enabeld"


def test_a_misspelled_flag_is_refused_by_the_console_as_by_the_api(console, admin_client_api):
    response = console.post("/admin/ops/featureflag/add/", {"name": MISSPELLED, "enabled": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"&quot;{MISSPELLED}&quot; is not a feature flag the code reads" in html
    assert not FeatureFlag.objects.filter(name=MISSPELLED).exists()

    body = assert_envelope(
        admin_client_api.post(
            "/api/v1/admin/feature-flags", {"name": MISSPELLED, "enabled": True}, format="json"
        ),
        400,
    )
    assert body["details"]["name"] == [
        f'"{MISSPELLED}" is not a feature flag the code reads. Known flags: '
        "offline_provider_allowed, rag_enabled, registration_open, streaming_enabled."
    ]
    assert not FeatureFlag.objects.filter(name=MISSPELLED).exists()


def test_the_service_refuses_unknown_flags_for_every_door():
    from rest_framework.exceptions import ValidationError

    from ops.flags import feature_flag_set

    with pytest.raises(ValidationError):
        feature_flag_set(name=MISSPELLED, enabled=True)
    assert not FeatureFlag.objects.exists()


def test_a_flag_description_change_in_the_console_is_audited(console, admin_user):
    console.post("/admin/ops/featureflag/add/", {"name": "rag_enabled", "enabled": "on"})
    flag = FeatureFlag.objects.get(name="rag_enabled")
    url = f"/admin/ops/featureflag/{flag.pk}/change/"
    data = change_form_data(console.get(url))
    data["description"] = "Retrieval for every chat"
    assert console.post(url, data).status_code == 302
    flag.refresh_from_db()
    assert flag.description == "Retrieval for every chat"
    events = AuditEvent.objects.filter(action="feature_flag_changed").order_by("created_at")
    assert events.last().details["description"] == "Retrieval for every chat"
