"""Which organization a request, a socket or a key acts in: always a membership the
authenticated user holds, never a header alone.

A user's memberships (with their organizations) are read once and kept in the shared cache
(``tenants:memberships:<user id>``); every change of a membership or an organization deletes
the entry of each user concerned (``tenants.signals``), so a new role, a removal or a
suspension applies from the next request on every worker, without a query per request.
"""

import contextlib
import uuid
from typing import Any

from django.core.cache import cache

from config.cache import cache_invalidate
from config.exceptions import ApplicationError, NotFoundError
from tenants.models import Membership, MembershipStatus, OrganizationStatus

TENANT_HEADER = "HTTP_X_TENANT_ID"
TENANT_MAX_CHARS = 64
_CACHE_SECONDS = 300


class TenantSuspended(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="TENANT_SUSPENDED", status_code=403)


def _not_found() -> NotFoundError:
    return NotFoundError("Organization not found.", code="TENANT_NOT_FOUND")


def memberships_cache_key(user_id: Any) -> str:
    return f"tenants:memberships:{user_id}"


def memberships_cache_clear(user_ids: Any) -> None:
    for user_id in user_ids:
        cache_invalidate(memberships_cache_key(user_id))


def _memberships(user: Any) -> list[Membership]:
    key = memberships_cache_key(user.pk)
    try:
        rows = cache.get(key)
    except Exception:  # noqa: BLE001 - the cache is an optimisation: Redis down reads the DB
        rows = None
    if rows is None:
        rows = list(
            Membership.objects.select_related("organization")
            .filter(user_id=user.pk)
            .order_by("created_at", "pk")
        )
        if not rows:
            # Every user has a personal organization; one whose was deleted gets a new one.
            from tenants.services import personal_organization_ensure

            personal_organization_ensure(user=user)
            return _memberships(user)
        # The cache is an optimisation: a Redis outage still answers from the database.
        with contextlib.suppress(Exception):
            cache.set(key, rows, timeout=_CACHE_SECONDS)
    return rows


def _named(rows: list[Membership], tenant: str) -> Membership | None:
    try:
        wanted = uuid.UUID(tenant)
    except ValueError:
        slug = tenant.lower()
        return next((m for m in rows if m.organization.slug == slug), None)
    return next((m for m in rows if m.organization_id == wanted), None)


def membership_resolve(*, user: Any, tenant: str | None, organization_id: Any = None) -> Membership:
    """The user's active membership in ``tenant`` (an organization id or slug), in the key's
    organization (``organization_id``), or in their default organization.

    An organization the user is not a member of is a 404 (``TENANT_NOT_FOUND``) - the same
    answer as one that does not exist; a suspended membership or organization is a 403."""
    tenant = (tenant or "").strip()
    if len(tenant) > TENANT_MAX_CHARS:
        raise _not_found()
    rows = _memberships(user)
    membership: Membership | None
    if organization_id is not None:
        membership = next((m for m in rows if str(m.organization_id) == str(organization_id)), None)
        if membership is not None and tenant and _named(rows, tenant) is not membership:
            raise _not_found()
    elif tenant:
        membership = _named(rows, tenant)
    else:
        usable = [
            m
            for m in rows
            if m.status == MembershipStatus.ACTIVE
            and m.organization.status == OrganizationStatus.ACTIVE
        ]
        membership = next((m for m in rows if m.is_default), None) or next(iter(usable), None)
        membership = membership or rows[0]
    if membership is None or membership.organization.status == OrganizationStatus.DELETING:
        raise _not_found()
    if membership.organization.status != OrganizationStatus.ACTIVE:
        raise TenantSuspended("This organization is suspended.")
    if membership.status != MembershipStatus.ACTIVE:
        raise TenantSuspended("Your membership in this organization is suspended.")
    return membership
