"""Sign-up by emailed code through an invitation (seed 004's code login): the first verify
creates the account only when an invitation names the address or registration is open."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from accounts.models import User
from core.actor import Actor
from ops.flags import feature_flag_set
from tenants.models import Membership
from tests.accounts.helpers import assert_envelope, bearer

pytestmark = pytest.mark.django_db

REQUEST = "/api/v1/auth/code/request"
VERIFY = "/api/v1/auth/code/verify"


@pytest.fixture
def registration_closed(db):
    feature_flag_set(name="registration_open", enabled=False, actor=Actor(system=True))


def _code() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def _invitation_token() -> str:
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    return parse_qs(urlsplit(link).query)["invitation"][0]


def test_invited_address_signs_up_and_joins(team, api_client, registration_closed):
    team.client("admin").post(
        "/api/v1/organizations/current/invitations", {"email": "grace@example.com"}
    )
    invitation = _invitation_token()
    assert api_client.post(REQUEST, {"email": "grace@example.com"}).status_code == 202
    assert mail.outbox[-1].to == ["grace@example.com"]
    response = api_client.post(
        VERIFY, {"email": "grace@example.com", "code": _code(), "invitation": invitation}
    )
    assert response.status_code == 200, response.content
    grace = User.objects.get(email="grace@example.com")
    assert grace.is_verified and not grace.has_usable_password()
    assert Membership.objects.get(organization=team.organization, user=grace).role == "member"
    # The new session works, in the organization as well as in the personal one.
    client = bearer(response.json()["access"])
    acme = client.get("/api/v1/organizations/acme")
    assert acme.status_code == 200 and acme.json()["role"] == "member"


def test_invited_address_signs_up_then_accepts_with_the_link(team, api_client, registration_closed):
    team.client("owner").post(
        "/api/v1/organizations/current/invitations", {"email": "grace@example.com"}
    )
    invitation = _invitation_token()
    api_client.post(REQUEST, {"email": "grace@example.com"})
    response = api_client.post(VERIFY, {"email": "grace@example.com", "code": _code()})
    assert response.status_code == 200
    client = bearer(response.json()["access"])
    assert (
        not Membership.objects.filter(organization=team.organization)
        .filter(user__email="grace@example.com")
        .exists()
    )
    accepted = client.post("/api/v1/organizations/invitations/accept", {"token": invitation})
    assert accepted.status_code == 200 and accepted.json()["slug"] == "acme"


def test_without_invitation_closed_registration_sends_no_code(api_client, registration_closed):
    assert api_client.post(REQUEST, {"email": "nobody@example.com"}).status_code == 202
    assert mail.outbox == []
    response = api_client.post(VERIFY, {"email": "nobody@example.com", "code": "123456"})
    assert_envelope(response, 401, "INVALID_CODE")
    assert not User.objects.filter(email="nobody@example.com").exists()


def test_open_registration_lets_a_new_address_sign_up_by_code(api_client):
    api_client.post(REQUEST, {"email": "new@example.com"})
    response = api_client.post(VERIFY, {"email": "new@example.com", "code": _code()})
    assert response.status_code == 200
    user = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=user, is_default=True).organization.is_personal


def test_invitation_revoked_after_the_code_was_sent_refuses_the_sign_up(
    team, api_client, registration_closed
):
    team.client("owner").post(
        "/api/v1/organizations/current/invitations", {"email": "grace@example.com"}
    )
    api_client.post(REQUEST, {"email": "grace@example.com"})
    code = _code()
    from tenants.models import Invitation

    invitation = Invitation.objects.get()
    team.client("owner").delete(f"/api/v1/organizations/current/invitations/{invitation.pk}")
    response = api_client.post(VERIFY, {"email": "grace@example.com", "code": code})
    assert_envelope(response, 403, "REGISTRATION_CLOSED")
    assert not User.objects.filter(email="grace@example.com").exists()


def test_wrong_invitation_token_on_verify_creates_nothing(team, api_client, registration_closed):
    team.client("owner").post(
        "/api/v1/organizations/current/invitations", {"email": "grace@example.com"}
    )
    api_client.post(REQUEST, {"email": "grace@example.com"})
    response = api_client.post(
        VERIFY, {"email": "grace@example.com", "code": _code(), "invitation": "forged"}
    )
    assert_envelope(response, 404, "INVITATION_INVALID")
    assert not User.objects.filter(email="grace@example.com").exists()


def test_a_suspended_accounts_address_gets_no_sign_up_code(api_client):
    from tests.factories import UserFactory

    UserFactory(email="gone@example.com", is_active=False)
    assert api_client.post(REQUEST, {"email": "gone@example.com"}).status_code == 202
    assert mail.outbox == []
