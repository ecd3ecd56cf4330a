"""users/me, the admin users API, suspension and mass assignment."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role, User
from accounts.sessions import user_group_name
from tests.accounts.helpers import ME, REFRESH, assert_envelope, bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users"


def detail(user_id: int) -> str:
    return f"/api/v1/users/{user_id}"


# --- users/me -------------------------------------------------------------------------------


def test_me_get(user_client, user):
    body = user_client.get(ME).json()
    assert body["id"] == user.pk and body["email"] == user.email
    assert not {"password", "token_version", "is_superuser"} & set(body)


def test_me_is_one_query_with_the_mfa_state(user_client, user, django_assert_num_queries):
    """The authentication query loads the caller with its MFA state: no second fetch (the
    memberships that resolve the organization are cached after the first request)."""
    user_client.get(ME)
    with django_assert_num_queries(1):
        body = user_client.get(ME).json()
    assert body["mfa_enabled"] is False
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    with django_assert_num_queries(1):
        assert user_client.get(ME).json()["mfa_enabled"] is True


def test_me_renders_as_the_user_serializer(user_client, user):
    from accounts.api.serializers import UserSerializer
    from accounts.mfa_state import users_with_mfa_state

    expected = UserSerializer(users_with_mfa_state().get(pk=user.pk)).data
    assert user_client.get(ME).json() == json.loads(json.dumps(expected, default=str))


def test_me_patch_changes_profile(user_client, user):
    response = user_client.patch(
        ME, {"full_name": "New Name", "preferences": {"theme": "dark"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "New Name"
    user.refresh_from_db()
    assert user.preferences == {"theme": "dark"}


def test_me_put_requires_all_editable_fields(user_client):
    body = assert_envelope(user_client.put(ME, {"full_name": "x"}, format="json"), 400)
    assert "username" in body["details"]
    ok = user_client.put(
        ME, {"username": "renamed", "full_name": "X", "preferences": {}}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["username"] == "renamed"


def test_me_cannot_raise_role_or_activate_or_verify(viewer_client, viewer_user):
    viewer_user.is_verified = False
    viewer_user.save()
    for method in (viewer_client.patch, viewer_client.put):
        method(
            ME,
            {
                "username": viewer_user.username,
                "full_name": "Me",
                "preferences": {},
                "role": "admin",
                "is_active": True,
                "is_verified": True,
                "is_staff": True,
                "is_superuser": True,
                "email": "new@example.com",
                "token_version": 99,
            },
            format="json",
        )
    viewer_user.refresh_from_db()
    assert viewer_user.role == Role.VIEWER
    assert not viewer_user.is_verified and not viewer_user.is_staff
    assert not viewer_user.is_superuser and viewer_user.email != "new@example.com"
    assert viewer_client.get(USERS).status_code == 403


def test_me_username_must_be_unique(user_client):
    other = UserFactory()
    body = assert_envelope(user_client.patch(ME, {"username": other.username.upper()}), 400)
    assert "username" in body["details"]


def test_me_preferences_are_bounded(user_client):
    assert_envelope(
        user_client.patch(ME, {"preferences": ["not", "a", "dict"]}, format="json"), 400
    )
    huge = {"k": "x" * 20000}
    assert_envelope(user_client.patch(ME, {"preferences": huge}, format="json"), 400)


# --- admin users API ------------------------------------------------------------------------


def test_non_admins_get_403_on_admin_endpoints(user_client, viewer_client, admin_user):
    for client in (user_client, viewer_client):
        assert_envelope(client.get(USERS), 403, "PERMISSION_DENIED")
        assert_envelope(client.get(detail(admin_user.pk)), 403)
        assert_envelope(client.patch(detail(admin_user.pk), {"role": "viewer"}), 403)
        assert_envelope(client.post(detail(admin_user.pk) + "/suspend"), 403)
        assert_envelope(client.post(detail(admin_user.pk) + "/reactivate"), 403)
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.role == Role.ADMIN


def test_admin_list_paginates_searches_filters_orders(admin_client_api, admin_user):
    UserFactory(email="zed@example.com", username="zed", full_name="Zed Last", role=Role.VIEWER)
    UserFactory(email="amy@example.com", username="amy", role=Role.USER, is_active=False)
    body = admin_client_api.get(USERS).json()
    assert body["count"] == 3 and {"next", "previous", "results"} <= set(body)
    assert {
        u["email"] for u in admin_client_api.get(USERS, {"search": "ZED"}).json()["results"]
    } == {"zed@example.com"}
    viewers = admin_client_api.get(USERS, {"role": "viewer"}).json()["results"]
    assert [u["email"] for u in viewers] == ["zed@example.com"]
    inactive = admin_client_api.get(USERS, {"is_active": "false"}).json()["results"]
    assert [u["email"] for u in inactive] == ["amy@example.com"]
    ordered = admin_client_api.get(USERS, {"ordering": "email"}).json()["results"]
    assert [u["email"] for u in ordered] == sorted(u["email"] for u in ordered)
    page = admin_client_api.get(USERS, {"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    assert_envelope(admin_client_api.get(USERS, {"role": "wizard"}), 400)


def test_admin_list_has_no_per_row_queries(admin_client_api, django_assert_max_num_queries):
    UserFactory.create_batch(15)
    with django_assert_max_num_queries(6):
        response = admin_client_api.get(USERS, {"page_size": 50})
    assert len(response.json()["results"]) == 16


def test_admin_detail_and_update(admin_client_api, user, password, api_client):
    assert admin_client_api.get(detail(user.pk)).json()["role"] == "user"
    assert_envelope(admin_client_api.get(detail(999999)), 404, "NOT_FOUND")
    old_tokens = login(api_client, user.email, password).json()
    response = admin_client_api.patch(
        detail(user.pk), {"role": "viewer", "full_name": "Renamed", "is_verified": False}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["role"], body["full_name"], body["is_verified"]) == ("viewer", "Renamed", False)
    # a role change ends the tokens that carry the old role
    assert_envelope(bearer(old_tokens["access"]).get(ME), 401)
    put = admin_client_api.put(
        detail(user.pk),
        {
            "email": "Moved@Example.com",
            "username": "moved",
            "full_name": "Moved",
            "preferences": {},
            "role": "user",
            "is_active": True,
            "is_verified": True,
            "current_password": password,  # the admin's: an email change is a step-up
        },
        format="json",
    )
    assert put.status_code == 200 and put.json()["email"] == "moved@example.com"


def test_admin_cannot_demote_or_suspend_themself(admin_client_api, admin_user):
    assert_envelope(admin_client_api.patch(detail(admin_user.pk), {"role": "user"}), 400)
    assert_envelope(admin_client_api.post(detail(admin_user.pk) + "/suspend"), 400)
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN and admin_user.is_active


def test_suspension_ends_sessions_at_once(admin_client_api, user, password, api_client):
    tokens = login(api_client, user.email, password).json()
    client = bearer(tokens["access"])
    assert client.get(ME).status_code == 200
    response = admin_client_api.post(detail(user.pk) + "/suspend")
    assert response.status_code == 200 and response.json()["is_active"] is False
    body = assert_envelope(client.get(ME), 401, "AUTHENTICATION_FAILED")
    assert body["details"]["reason"] in {"user_inactive", "token_revoked"}
    assert_envelope(api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)
    assert_envelope(login(api_client, user.email, password), 403, "ACCOUNT_DISABLED")

    reactivated = admin_client_api.post(detail(user.pk) + "/reactivate")
    assert reactivated.status_code == 200 and reactivated.json()["is_active"] is True
    assert_envelope(client.get(ME), 401)  # old tokens stay dead
    assert login(api_client, user.email, password).status_code == 200


def test_suspension_reaches_open_websockets(
    admin_client_api, user, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(user_group_name(user.pk), channel)

        def suspend():
            with django_capture_on_commit_callbacks(execute=True):
                return admin_client_api.post(detail(user.pk) + "/suspend")

        response = await sync_to_async(suspend)()
        assert response.status_code == 200
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    message = async_to_sync(scenario)()
    assert message["type"] == "auth.revoked"


def test_suspension_and_role_change_are_audited(admin_client_api, user, log_lines):
    admin_client_api.patch(detail(user.pk), {"role": "viewer"})
    admin_client_api.post(detail(user.pk) + "/suspend")
    assert "role_changed" in log_lines.text
    assert "user_suspended" in log_lines.text


def test_users_api_never_exposes_secrets(admin_client_api, user):
    text = str(admin_client_api.get(USERS).json()) + str(
        admin_client_api.get(detail(user.pk)).json()
    )
    assert User.objects.get(pk=user.pk).password not in text
    assert "password" not in text
