"""What every organizations view shares: the ``{organization}`` path parameter and errors."""

import dataclasses

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.request import Request

from accounts.models import ApiKey
from core import tenancy
from core.actor import Actor, actor_from_request
from tenants.resolution import membership_resolve

TAG = ["organizations"]
ERROR = OpenApiResponse(description="Error envelope")
CURRENT = "current"

ORGANIZATION_PARAMETER = OpenApiParameter(
    "organization",
    str,
    OpenApiParameter.PATH,
    description="The organization's id or slug, or `current`: the one the request acts in "
    "(`X-Tenant-ID`, else your default organization). One you are not a member of is a 404 "
    "`TENANT_NOT_FOUND`.",
)


def organization_actor(request: Request, organization: str) -> Actor:
    """The request's actor acting in the organization the path names (a membership of the
    user, resolved like ``X-Tenant-ID``; an API key stays in its own organization)."""
    actor = actor_from_request(request)
    if organization == CURRENT:
        return actor
    auth = request.auth
    membership = membership_resolve(
        user=request.user,
        tenant=organization,
        organization_id=auth.organization_id if isinstance(auth, ApiKey) else None,
    )
    if membership.organization_id != actor.organization_id:
        tenancy.activate(membership.organization_id)
    return dataclasses.replace(
        actor, organization=membership.organization, membership_role=membership.role
    )
