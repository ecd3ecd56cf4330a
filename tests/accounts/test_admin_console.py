"""The Django admin as the user management console."""

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.models import Role, User
from ops.models import AuditEvent
from tests.accounts.helpers import assert_envelope, bearer, login
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _action(console, action: str, *users: User):
    return console.post(
        CHANGELIST,
        {"action": action, "_selected_action": [u.pk for u in users]},
        follow=True,
    )


def test_changelist_shows_role_mfa_and_last_login(console, user, django_assert_max_num_queries):
    others = [UserFactory(email=f"bulk{n}@example.com") for n in range(10)]
    mfa.mfa_enable(user=user, password=DEFAULT_PASSWORD)
    TOTPDevice.objects.filter(user=user).update(confirmed=True)
    with django_assert_max_num_queries(12):
        response = console.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("Role", "MFA", "Last login", "Is verified"):
        assert column.lower() in html.lower()
    assert user.email in html
    on = console.get(CHANGELIST, {"mfa": "on"}).content.decode()
    assert user.email in on and others[0].email not in on
    off = console.get(CHANGELIST, {"mfa": "off"}).content.decode()
    assert others[0].email in off and user.email not in off


def test_changelist_search_and_filters(console):
    UserFactory(email="findme@example.com", role=Role.VIEWER)
    assert "findme@example.com" in console.get(CHANGELIST, {"q": "findme"}).content.decode()
    viewers = console.get(CHANGELIST, {"role__exact": "viewer"}).content.decode()
    assert "findme@example.com" in viewers


def test_non_admin_cannot_open_console(user):
    client = Client()
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 302  # to the admin login


def test_suspend_action_ends_sessions(console, user, password, api_client, log_lines):
    access = login(api_client, user.email, password).json()["access"]
    _action(console, "suspend_users", user)
    user.refresh_from_db()
    assert not user.is_active
    assert_envelope(bearer(access).get("/api/v1/users/me"), 401)
    assert "user_suspended" in log_lines.text
    _action(console, "reactivate_users", user)
    user.refresh_from_db()
    assert user.is_active


def test_suspend_action_skips_the_acting_admin(console, admin_user):
    _action(console, "suspend_users", admin_user)
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_reset_mfa_action(console, user, password, api_client, clock):
    from tests.accounts.helpers import totp_now

    setup = mfa.mfa_enable(user=user, password=DEFAULT_PASSWORD)
    mfa.mfa_confirm(user=user, code=totp_now(setup["secret"]), password=DEFAULT_PASSWORD)
    assert login(api_client, user.email, password).json()["mfa_required"] is True
    _action(console, "reset_mfa", user)
    assert "access" in login(api_client, user.email, password).json()


def test_change_role_actions(console, user, log_lines):
    _action(console, "make_viewer", user)
    user.refresh_from_db()
    assert user.role == Role.VIEWER
    _action(console, "make_admin", user)
    user.refresh_from_db()
    assert user.role == Role.ADMIN and user.is_staff
    assert "role_changed" in log_lines.text


def test_change_form_role_goes_through_service(console, user, password, api_client):
    access = login(api_client, user.email, password).json()["access"]
    response = console.post(
        f"{CHANGELIST}{user.pk}/change/",
        {
            "email": user.email,
            "username": user.username,
            "full_name": user.full_name,
            "role": "viewer",
            "is_active": "on",
            "is_verified": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.role == Role.VIEWER
    assert_envelope(bearer(access).get("/api/v1/users/me"), 401)  # old-role token revoked


def test_add_user_in_console(console):
    response = console.post(
        f"{CHANGELIST}add/",
        {
            "email": "New@Example.com",
            "username": "newbie",
            "full_name": "New Bie",
            "role": "user",
            "password1": "a fine long passphrase",
            "password2": "a fine long passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert User.objects.get(email="new@example.com").check_password("a fine long passphrase")


def test_password_set_in_console_ends_sessions(console, user, password, api_client):
    access = login(api_client, user.email, password).json()["access"]
    response = console.post(
        f"{CHANGELIST}{user.pk}/password/",
        {"password1": "another long passphrase", "password2": "another long passphrase"},
    )
    assert response.status_code == 302
    assert_envelope(bearer(access).get("/api/v1/users/me"), 401)
    assert login(api_client, user.email, "another long passphrase").status_code == 200


def _change_form_data(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": "on",
        "is_verified": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_console_email_change_needs_the_admins_password(console, user, admin_user):
    url = f"{CHANGELIST}{user.pk}/change/"
    old = user.email
    refused = console.post(url, _change_form_data(user, email="taken.over@example.com"))
    assert refused.status_code == 200  # the form again, with the error
    assert "The current password is not correct." in refused.content.decode()
    user.refresh_from_db()
    assert user.email == old
    wrong = console.post(
        url, _change_form_data(user, email="taken.over@example.com", current_password="nope")
    )
    assert wrong.status_code == 200
    assert AuditEvent.objects.filter(action="step_up_failed", actor=admin_user).count() == 2
    accepted = console.post(
        url,
        _change_form_data(user, email="new.address@example.com", current_password=DEFAULT_PASSWORD),
    )
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    user.refresh_from_db()
    assert user.email == "new.address@example.com"
    # Other fields change without the password.
    renamed = console.post(url, _change_form_data(user, full_name="Renamed Person"))
    assert renamed.status_code == 302
