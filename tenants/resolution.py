"""Which organization a request, a socket or a key acts in: always a membership the
authenticated user holds, never a header alone."""

import uuid
from typing import Any

from config.exceptions import ApplicationError, NotFoundError
from tenants.models import Membership, MembershipStatus, OrganizationStatus

TENANT_HEADER = "HTTP_X_TENANT_ID"
TENANT_MAX_CHARS = 64


class TenantSuspended(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="TENANT_SUSPENDED", status_code=403)


def _not_found() -> NotFoundError:
    return NotFoundError("Organization not found.", code="TENANT_NOT_FOUND")


def membership_resolve(*, user: Any, tenant: str | None, organization_id: Any = None) -> Membership:
    """The user's active membership in ``tenant`` (an organization id or slug), in the key's
    organization (``organization_id``), or in their default organization.

    An organization the user is not a member of is a 404 (``TENANT_NOT_FOUND``) - the same
    answer as one that does not exist; a suspended membership or organization is a 403."""
    from tenants.services import personal_organization_ensure

    memberships = Membership.objects.select_related("organization").filter(user=user)
    tenant = (tenant or "").strip()
    if len(tenant) > TENANT_MAX_CHARS:
        raise _not_found()
    if organization_id is not None:
        memberships = memberships.filter(organization_id=organization_id)
        if tenant and not _names(memberships, tenant):
            raise _not_found()
        membership = memberships.first()
    elif tenant:
        membership = _names(memberships, tenant)
    else:
        membership = (
            memberships.filter(is_default=True).first()
            or memberships.filter(
                status=MembershipStatus.ACTIVE, organization__status=OrganizationStatus.ACTIVE
            )
            .order_by("created_at")
            .first()
        )
        if membership is None:
            personal_organization_ensure(user=user)
            membership = memberships.filter(is_default=True).first() or memberships.first()
    if membership is None:
        raise _not_found()
    if membership.organization.status == OrganizationStatus.DELETING:
        raise _not_found()
    if membership.organization.status != OrganizationStatus.ACTIVE:
        raise TenantSuspended("This organization is suspended.")
    if membership.status != MembershipStatus.ACTIVE:
        raise TenantSuspended("Your membership in this organization is suspended.")
    return membership


def _names(memberships: Any, tenant: str) -> Membership | None:
    try:
        return memberships.filter(organization_id=uuid.UUID(tenant)).first()
    except ValueError:
        return memberships.filter(organization__slug=tenant.lower()).first()
