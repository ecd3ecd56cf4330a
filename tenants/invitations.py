"""Invitations by email: created by owners and admins, mailed with an accept link, accepted
once by the account whose email they name.

The secret of the link is random (``secrets.token_urlsafe``) and stored only as its SHA-256,
so a database dump holds no usable invitation. An invitation expires after
``INVITATION_TTL_HOURS``, is single-use (the row is locked while it is accepted) and can be
revoked or resent (a resend replaces the secret: the old link stops working). One organization
sends at most ``INVITATIONS_PER_HOUR`` invitations (new or resent) per hour, counted in the
shared cache so every worker agrees.
"""

import dataclasses
import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.emails import email_send, frontend_link
from config.exceptions import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from core.actor import Actor
from core.policies import is_org_admin, is_org_owner
from ops.audit import audit_log
from tenants.members import ROLE_RANK, member_cap_check
from tenants.models import (
    Invitation,
    MemberRole,
    Membership,
    MembershipStatus,
    Organization,
    OrganizationStatus,
)

TOKEN_BYTES = 32
_HOUR = 3600


class InvitationError(ApplicationError):
    """An accept link that cannot be used, with a code saying why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pending(queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
    return queryset.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def invitation_pending_for_email(email: str) -> bool:
    """Whether a usable invitation names ``email`` (an active organization): such an address
    may create its account by email code even while registration is closed."""
    return (
        _pending(Invitation.objects.filter(email__iexact=email.strip()))
        .filter(organization__status=OrganizationStatus.ACTIVE)
        .exists()
    )


def _require_manager(actor: Actor) -> Organization:
    if not is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owners and admins invite.")
    return actor.organization


def _throttle(organization: Organization) -> None:
    """Count one invitation mail against the organization's hourly budget (429 when spent)."""
    limit = int(settings.INVITATIONS_PER_HOUR)
    window = int(time.time() // _HOUR)
    key = f"tenants:invitations:{organization.pk}:{window}"
    cache.add(key, 0, timeout=_HOUR + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted in between: start the window again
        cache.set(key, 1, timeout=_HOUR + 60)
        count = 1
    if count > limit:
        retry_after = _HOUR - int(time.time()) % _HOUR
        raise RateLimitedError(
            f"This organization may send at most {limit} invitations per hour.",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def _mail(invitation: Invitation, token: str, actor: Actor) -> None:
    inviter = actor.user
    email_send(
        to=invitation.email,
        kind="organization_invitation",
        context={
            "organization": invitation.organization,
            "inviter_name": (getattr(inviter, "full_name", "") or getattr(inviter, "email", ""))
            or "An administrator",
            "role": invitation.role,
            "email": invitation.email,
            "link": frontend_link(invitation=token),
            "expires_hours": int(settings.INVITATION_TTL_HOURS),
        },
    )


def _new_secret(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation.token_hash = _hash(token)
    invitation.expires_at = timezone.now() + timedelta(hours=int(settings.INVITATION_TTL_HOURS))
    return token


def invitation_create(*, actor: Actor, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` into the current organization with ``role`` (not above the inviter's:
    only owners invite owners); mailed with the accept link. Returns the invitation and its
    secret (the secret is only in the mail and in this return value)."""
    organization = _require_manager(actor)
    email = email.strip().lower()
    if role not in MemberRole.values:
        raise ApplicationError(
            "Unknown role.", code="VALIDATION_ERROR", details={"role": ["Unknown role."]}
        )
    if role == MemberRole.OWNER and not is_org_owner(actor):
        raise PermissionDeniedError("Only owners may invite owners.", code="OWNER_REQUIRED")
    if ROLE_RANK[MemberRole(role)] > ROLE_RANK[MemberRole(actor.membership_role or "viewer")]:
        raise PermissionDeniedError("You cannot invite above your own role.")
    with transaction.atomic():
        # One invitation at a time per organization: the cap counts pending invitations.
        Organization.objects.select_for_update().get(pk=organization.pk)
        if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
            raise ConflictError("This person is already a member.", code="ALREADY_MEMBER")
        pending = _pending(Invitation.objects.filter(organization=organization))
        if pending.filter(email__iexact=email).exists():
            raise ConflictError(
                "An invitation for this address is pending; resend or revoke it.",
                code="INVITATION_PENDING",
            )
        member_cap_check(organization=organization, pending=pending.count())
        _throttle(organization)
        invitation = Invitation(
            organization=organization, email=email, role=role, invited_by=actor.user
        )
        token = _new_secret(invitation)
        invitation.save()
        audit_log(actor=actor, action="organization.invite", target=invitation, role=role)
    _mail(invitation, token, actor)
    return invitation, token


def _managed(actor: Actor, invitation_id: Any) -> Invitation:
    organization = _require_manager(actor)
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(organization=organization, pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFoundError("No such invitation.")
    return invitation


def _refuse_closed(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise ConflictError("This invitation was already accepted.", code="INVITATION_USED")
    if invitation.revoked_at is not None:
        raise InvitationError(
            "This invitation was revoked.", code="INVITATION_REVOKED", status_code=410
        )


def invitation_revoke(*, actor: Actor, invitation_id: Any) -> Invitation:
    """Revoke an invitation that was not accepted: its link stops working."""
    with transaction.atomic():
        invitation = _managed(actor, invitation_id)
        if invitation.accepted_at is not None:
            raise ConflictError("This invitation was already accepted.", code="INVITATION_USED")
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit_log(actor=actor, action="organization.invite_revoke", target=invitation)
    return invitation


def invitation_resend(*, actor: Actor, invitation_id: Any) -> tuple[Invitation, str]:
    """Mail a pending (or expired) invitation again with a new link and a new expiry; the
    previous link stops working."""
    with transaction.atomic():
        invitation = _managed(actor, invitation_id)
        _refuse_closed(invitation)
        if invitation.role == MemberRole.OWNER and not is_org_owner(actor):
            raise PermissionDeniedError("Only owners may invite owners.", code="OWNER_REQUIRED")
        _throttle(invitation.organization)
        token = _new_secret(invitation)
        invitation.save(update_fields=["token_hash", "expires_at"])
        audit_log(actor=actor, action="organization.invite_resend", target=invitation)
    _mail(invitation, token, actor)
    return invitation, token


def invitation_accept(*, actor: Actor, token: str) -> Membership:
    """Join the invitation's organization as the signed-in user, whose email must be the one
    invited. Refused with ``INVITATION_INVALID`` (unknown link), ``INVITATION_EXPIRED``,
    ``INVITATION_REVOKED``, ``INVITATION_USED``, ``INVITATION_WRONG_ACCOUNT``; a user who is
    already a member keeps their membership (the invitation is used up)."""
    user = actor.user
    if user is None:
        raise PermissionDeniedError()
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organization")
            .filter(token_hash=_hash(token or ""))
            .first()
        )
        if invitation is None:
            raise InvitationError(
                "This invitation link is invalid.", code="INVITATION_INVALID", status_code=404
            )
        _refuse_closed(invitation)
        if invitation.expires_at <= timezone.now():
            raise InvitationError(
                "This invitation has expired; ask for a new one.",
                code="INVITATION_EXPIRED",
                status_code=410,
            )
        if invitation.email.lower() != user.email.lower():
            audit_log(actor=actor, action="organization.invite_wrong_account", target=invitation)
            raise InvitationError(
                "This invitation is for another email address; sign in with that account.",
                code="INVITATION_WRONG_ACCOUNT",
                status_code=403,
            )
        organization = Organization.objects.select_for_update().get(pk=invitation.organization_id)
        if organization.status != OrganizationStatus.ACTIVE:
            raise InvitationError(
                "This organization is not active.", code="TENANT_SUSPENDED", status_code=403
            )
        membership = Membership.objects.filter(organization=organization, user=user).first()
        if membership is None:
            member_cap_check(organization=organization)
            membership = Membership.objects.create(
                organization=organization,
                user=user,
                role=invitation.role,
                status=MembershipStatus.ACTIVE,
            )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_log(
            actor=Actor(
                user=user,
                organization=organization,
                membership_role=membership.role,
                ip=actor.ip,
                request_id=actor.request_id,
                user_agent=actor.user_agent,
            ),
            action="organization.invite_accept",
            target=invitation,
            role=membership.role,
        )
    return membership


def invitation_accept_for_user(*, user: Any, token: str, actor: Actor) -> Membership:
    """``invitation_accept`` for a user a sign-in has just identified (the email-code login
    with an invitation token)."""
    return invitation_accept(actor=dataclasses.replace(actor, user=user), token=token)
