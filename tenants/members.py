"""Writes of memberships: role changes, removal, leaving, suspension, and the member cap.

Owners and admins manage members; only owners make or unmake owners; the last active owner
can neither leave, be demoted, suspended nor removed (an organization always has somebody who
may manage it). A membership that ends or is suspended closes that user's sockets in the
organization at once; REST follows from the membership cache, cleared on every change.
"""

from typing import Any

from django.db import transaction

from config.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from core.actor import Actor
from core.policies import is_org_admin, is_org_owner
from ops.audit import audit_log
from tenants.models import MemberRole, Membership, MembershipStatus, Organization

ROLE_RANK = {
    MemberRole.VIEWER: 0,
    MemberRole.MEMBER: 1,
    MemberRole.ADMIN: 2,
    MemberRole.OWNER: 3,
}


class PlanLimitError(ApplicationError):
    """A cap of the organization's plan (members, documents, storage) is reached."""

    status_code = 403
    default_code = "PLAN_LIMIT"
    default_detail = "Your organization's plan does not allow more of this."


def member_cap_check(*, organization: Organization, adding: int = 1, pending: int = 0) -> None:
    """Refuse (403 ``PLAN_LIMIT``) when ``adding`` more members (beyond ``pending``
    invitations already counted) would pass ``Organization.max_members``."""
    cap = organization.max_members
    if cap is None:
        return
    current = Membership.objects.filter(organization=organization).count()
    if current + pending + adding > cap:
        raise PlanLimitError(
            f"This organization may have at most {cap} members.",
            details={"limit": cap, "members": current, "pending_invitations": pending},
        )


def _require_manager(actor: Actor) -> Organization:
    if not is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owners and admins manage members.")
    return actor.organization


def _locked_member(organization: Organization, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(organization=organization, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFoundError("No such member.")
    return membership


def _active_owner_count(organization: Organization) -> int:
    # Locks the owners' rows: two owners demoting each other at once cannot both pass.
    return len(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=MemberRole.OWNER, status=MembershipStatus.ACTIVE)
        .values_list("pk", flat=True)
    )


def _refuse_last_owner(membership: Membership, what: str) -> None:
    if (
        membership.role == MemberRole.OWNER
        and membership.status == MembershipStatus.ACTIVE
        and _active_owner_count(membership.organization) <= 1
    ):
        raise ConflictError(
            f"The last owner cannot {what}; make another member an owner first.",
            code="LAST_OWNER",
        )


def _refuse_owner_change_by_non_owner(actor: Actor, *roles: str) -> None:
    if MemberRole.OWNER in roles and not is_org_owner(actor):
        raise PermissionDeniedError("Only owners may make or unmake owners.", code="OWNER_REQUIRED")


def _close_sockets(membership: Membership, code: str, message: str) -> None:
    from tenants.notify import sockets_close_for

    sockets_close_for(
        user_ids=[membership.user_id],
        organization_id=membership.organization_id,
        code=code,
        message=message,
    )


def member_role_set(*, actor: Actor, user_id: int, role: str) -> Membership:
    """Give a member another role (owners and admins; owners only to or from ``owner``)."""
    organization = _require_manager(actor)
    if role not in MemberRole.values:
        raise ApplicationError(
            "Unknown role.", code="VALIDATION_ERROR", details={"role": ["Unknown role."]}
        )
    with transaction.atomic():
        membership = _locked_member(organization, user_id)
        previous = membership.role
        if previous == role:
            return membership
        _refuse_owner_change_by_non_owner(actor, previous, role)
        if previous == MemberRole.OWNER:
            _refuse_last_owner(membership, "be demoted")
        membership.role = role
        membership.save(update_fields=["role"])
        audit_log(
            actor=actor,
            action="organization.member_role",
            target=membership.user,
            old=previous,
            new=role,
        )
    return membership


def member_status_set(*, actor: Actor, user_id: int, suspended: bool) -> Membership:
    """Suspend a member (their requests in this organization answer 403, their sockets in it
    close) or lift the suspension (owners and admins; an owner only by an owner)."""
    organization = _require_manager(actor)
    if suspended and user_id == actor.user_id:
        raise ConflictError("You cannot suspend yourself.", code="SELF_SUSPENSION")
    wanted = MembershipStatus.SUSPENDED if suspended else MembershipStatus.ACTIVE
    with transaction.atomic():
        membership = _locked_member(organization, user_id)
        if membership.status == wanted:
            return membership
        _refuse_owner_change_by_non_owner(actor, membership.role)
        if suspended:
            _refuse_last_owner(membership, "be suspended")
        membership.status = wanted
        membership.save(update_fields=["status"])
        audit_log(
            actor=actor,
            action="organization.member_suspend" if suspended else "organization.member_unsuspend",
            target=membership.user,
        )
        if suspended:
            _close_sockets(
                membership,
                "TENANT_SUSPENDED",
                "Your membership in this organization is suspended.",
            )
    return membership


def member_remove(*, actor: Actor, user_id: int) -> None:
    """Remove a member (owners and admins; an owner only by an owner), or leave (any member
    removing themselves). The last owner can do neither. Their chats and documents stay in
    the organization; the organization stops being their default."""
    if actor.organization is None or actor.user is None:
        raise PermissionDeniedError()
    leaving = user_id == actor.user_id
    organization = actor.organization if leaving else _require_manager(actor)
    with transaction.atomic():
        membership = _locked_member(organization, user_id)
        if not leaving:
            _refuse_owner_change_by_non_owner(actor, membership.role)
        _refuse_last_owner(membership, "leave" if leaving else "be removed")
        was_default = membership.is_default
        membership.delete()
        if was_default:
            _default_elsewhere(user_id)
        audit_log(
            actor=actor,
            action="organization.member_leave" if leaving else "organization.member_remove",
            target=membership.user,
            role=membership.role,
        )
        _close_sockets(
            membership, "TENANT_NOT_FOUND", "You are no longer a member of this organization."
        )


def _default_elsewhere(user_id: Any) -> None:
    """The user's personal organization (else their oldest) becomes their default."""
    rest = Membership.objects.filter(user_id=user_id).order_by(
        "-organization__is_personal", "created_at", "pk"
    )
    successor = rest.first()
    if successor is not None:
        successor.is_default = True
        successor.save(update_fields=["is_default"])
