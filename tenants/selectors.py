"""Reads of organizations, members, invitations, the audit trail and the flags of an
organization, each for an actor acting in it."""

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from config.exceptions import PermissionDeniedError
from core.actor import Actor
from core.policies import is_org_admin
from ops.flags import FLAG_DEFAULTS, flag_default
from ops.models import AuditEvent, FeatureFlag
from tenants.models import Invitation, Membership, MembershipStatus, OrganizationStatus


def _require_member(actor: Actor) -> None:
    if actor.organization is None or actor.user is None:
        raise PermissionDeniedError()


def _require_org_admin(actor: Actor) -> None:
    if not is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owners and admins may see this.")


def membership_list_for_user(*, actor: Actor) -> QuerySet[Membership]:
    """The organizations the user belongs to (deleted ones left out), with their role."""
    user_id = actor.user_id
    if user_id is None:
        raise PermissionDeniedError()
    return (
        Membership.objects.filter(user_id=user_id)
        .exclude(organization__status=OrganizationStatus.DELETING)
        .select_related("organization")
        .annotate(
            member_count=Count(
                "organization__memberships",
                filter=Q(organization__memberships__status=MembershipStatus.ACTIVE),
            )
        )
        .order_by("-is_default", "organization__name", "pk")
    )


def membership_current(*, actor: Actor) -> Membership:
    """The actor's membership in the organization they act in, with the member count."""
    _require_member(actor)
    return membership_list_for_user(actor=actor).get(organization_id=actor.organization_id)


def member_list(*, actor: Actor) -> QuerySet[Membership]:
    """Members of the current organization (any member may see who else is in it)."""
    _require_member(actor)
    return (
        Membership.objects.filter(organization_id=actor.organization_id)
        .select_related("user")
        .order_by("created_at", "pk")
    )


def invitation_list(*, actor: Actor) -> QuerySet[Invitation]:
    """Invitations of the current organization not yet accepted, revoked or expired."""
    _require_org_admin(actor)
    return (
        Invitation.objects.filter(
            organization_id=actor.organization_id,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def audit_event_list(*, actor: Actor, action: str | None = None) -> QuerySet[AuditEvent]:
    """The current organization's audit trail, newest first (``action``: exact, or a prefix
    ending in ``.``, e.g. ``organization.``)."""
    _require_org_admin(actor)
    events = AuditEvent.objects.filter(organization_id=actor.organization_id)
    if action:
        events = (
            events.filter(action__startswith=action)
            if action.endswith(".")
            else events.filter(action=action)
        )
    return events.order_by("-created_at", "-pk")


def organization_flag_list(*, actor: Actor) -> list[dict[str, Any]]:
    """Every flag the code reads: the organization's own value (``None``: not set), the
    platform's value (its row, else the default) and the value in effect here."""
    _require_org_admin(actor)
    rows = FeatureFlag.objects.filter(
        Q(organization__isnull=True) | Q(organization_id=actor.organization_id),
        name__in=list(FLAG_DEFAULTS),
    ).select_related("updated_by")
    platform = {f.name: f for f in rows if f.organization_id is None}
    own = {f.name: f for f in rows if f.organization_id is not None}
    result = []
    for name in sorted(FLAG_DEFAULTS):
        platform_row = platform.get(name)
        own_row = own.get(name)
        platform_value = platform_row.enabled if platform_row else flag_default(name)
        result.append(
            {
                "name": name,
                "description": FLAG_DEFAULTS[name][1],
                "enabled": own_row.enabled if own_row else platform_value,
                "organization_value": own_row.enabled if own_row else None,
                "platform_value": platform_value,
                "updated_at": own_row.updated_at if own_row else None,
                "updated_by": own_row.updated_by.email if own_row and own_row.updated_by else None,
            }
        )
    return result
