"""Invitations: who may invite whom, the mail and its link, accept (once, by the right
account, in time), revoke, resend, the member cap and the hourly budget."""

import hashlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from ops.models import AuditEvent
from tenants.models import Invitation, Membership
from tests.accounts.helpers import assert_envelope
from tests.factories import UserFactory
from tests.tenants.conftest import ROLES

pytestmark = pytest.mark.django_db

INVITATIONS = "/api/v1/organizations/current/invitations"
ACCEPT = "/api/v1/organizations/invitations/accept"


def _token_from_mail() -> str:
    message = mail.outbox[-1]
    link = re.search(r"https?://\S+", message.body).group(0)
    token = parse_qs(urlsplit(link).query)["invitation"][0]
    assert link in message.alternatives[0][0].replace("&amp;", "&")
    return token


def _invite(team, email="grace@example.com", role="member", by="owner"):
    return team.client(by).post(INVITATIONS, {"email": email, "role": role})


def _client_for(user):
    from tests.tenants.conftest import Team

    return Team(organization=None, users={"x": user}).client("x", header=False)


@pytest.mark.parametrize(
    "role,status",
    [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_invite_matrix(team, role, status):
    response = _invite(team, by=role)
    assert response.status_code == status, response.content
    assert len(mail.outbox) == (1 if status == 201 else 0)
    if status == 201:
        message = mail.outbox[0]
        assert message.to == ["grace@example.com"] and "Acme" in message.subject
        # Only the hash of the link's secret is stored.
        token = _token_from_mail()
        stored = Invitation.objects.get().token_hash
        assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_admins_cannot_invite_owners_but_owners_can(team):
    assert_envelope(_invite(team, role="owner", by="admin"), 403, "OWNER_REQUIRED")
    assert _invite(team, role="owner", by="owner").status_code == 201


@pytest.mark.parametrize("role", ROLES)
def test_pending_list_matrix(team, role):
    _invite(team)
    response = team.client(role).get(INVITATIONS)
    expected = {"owner": 200, "admin": 200, "member": 403, "viewer": 403, "outsider": 404}
    assert response.status_code == expected[role]
    if role in ("owner", "admin"):
        rows = response.json()["results"]
        assert [r["email"] for r in rows] == ["grace@example.com"]
        assert "token" not in rows[0] and "token_hash" not in rows[0]


def test_accept_joins_with_the_invited_role_once(team):
    _invite(team, role="admin")
    token = _token_from_mail()
    grace = UserFactory(email="grace@example.com", username="grace")
    client = _client_for(grace)
    response = client.post(ACCEPT, {"token": token})
    assert response.status_code == 200, response.content
    assert response.json()["slug"] == "acme" and response.json()["role"] == "admin"
    assert Membership.objects.get(organization=team.organization, user=grace).role == "admin"
    assert_envelope(client.post(ACCEPT, {"token": token}), 409, "INVITATION_USED")
    event = AuditEvent.objects.get(action="organization.invite_accept")
    assert event.organization_id == team.organization.pk and event.actor_id == grace.pk


def test_accept_by_another_account_is_refused(team):
    _invite(team)
    token = _token_from_mail()
    mallory = UserFactory(email="mallory@example.com", username="mallory")
    assert_envelope(
        _client_for(mallory).post(ACCEPT, {"token": token}), 403, "INVITATION_WRONG_ACCOUNT"
    )
    assert not Membership.objects.filter(organization=team.organization, user=mallory).exists()
    # The right account still can.
    grace = UserFactory(email="Grace@Example.com", username="grace")
    assert _client_for(grace).post(ACCEPT, {"token": token}).status_code == 200


def test_expired_invitation_is_refused(team):
    _invite(team)
    token = _token_from_mail()
    grace = UserFactory(email="grace@example.com", username="grace")
    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=5)):
        assert_envelope(
            _client_for(grace).post(ACCEPT, {"token": token}), 410, "INVITATION_EXPIRED"
        )
        # ... and no longer listed as pending.
        assert team.client("owner").get(INVITATIONS).json()["results"] == []


def test_revoked_invitation_is_refused(team):
    _invite(team)
    token = _token_from_mail()
    invitation = Invitation.objects.get()
    member = team.client("member").delete(f"{INVITATIONS}/{invitation.pk}")
    assert_envelope(member, 403)
    assert team.client("admin").delete(f"{INVITATIONS}/{invitation.pk}").status_code == 204
    grace = UserFactory(email="grace@example.com", username="grace")
    assert_envelope(_client_for(grace).post(ACCEPT, {"token": token}), 410, "INVITATION_REVOKED")
    assert AuditEvent.objects.filter(action="organization.invite_revoke").exists()


def test_unknown_token_is_refused(team):
    grace = UserFactory(email="grace@example.com", username="grace")
    assert_envelope(_client_for(grace).post(ACCEPT, {"token": "nope"}), 404, "INVITATION_INVALID")


def test_resend_replaces_the_link(team):
    _invite(team)
    old = _token_from_mail()
    invitation = Invitation.objects.get()
    response = team.client("owner").post(f"{INVITATIONS}/{invitation.pk}/resend")
    assert response.status_code == 200 and len(mail.outbox) == 2
    new = _token_from_mail()
    assert new != old
    grace = UserFactory(email="grace@example.com", username="grace")
    client = _client_for(grace)
    assert_envelope(client.post(ACCEPT, {"token": old}), 404, "INVITATION_INVALID")
    assert client.post(ACCEPT, {"token": new}).status_code == 200
    assert_envelope(
        team.client("owner").post(f"{INVITATIONS}/{invitation.pk}/resend"), 409, "INVITATION_USED"
    )


def test_members_and_pending_duplicates_are_refused(team):
    assert_envelope(_invite(team, email="member@acme.test"), 409, "ALREADY_MEMBER")
    _invite(team)
    assert_envelope(_invite(team, email="GRACE@example.com"), 409, "INVITATION_PENDING")


def test_member_cap_is_a_plan_limit(team):
    team.organization.max_members = 5
    team.organization.save()
    assert _invite(team).status_code == 201  # 4 members + 1 pending = 5
    body = assert_envelope(_invite(team, email="ada@example.com"), 403, "PLAN_LIMIT")
    assert body["details"]["limit"] == 5
    # A cap lowered after the invitation was sent is enforced when it is accepted.
    token = _token_from_mail()
    team.organization.max_members = 4
    team.organization.save()
    grace = UserFactory(email="grace@example.com", username="grace")
    assert_envelope(_client_for(grace).post(ACCEPT, {"token": token}), 403, "PLAN_LIMIT")
    assert not Membership.objects.filter(user=grace, organization=team.organization).exists()


def test_invitations_per_hour_are_limited(team, settings):
    settings.INVITATIONS_PER_HOUR = 2
    assert _invite(team, email="a@example.com").status_code == 201
    assert _invite(team, email="b@example.com").status_code == 201
    response = _invite(team, email="c@example.com")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) > 0
    assert len(mail.outbox) == 2
