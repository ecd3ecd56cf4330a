"""The REST authentication classes, each followed by the resolution of the organization.

DRF authenticates inside the view, after every middleware, so the organization is resolved
here, right after the user is known: a header naming an organization the user is not a member
of is answered ``TENANT_NOT_FOUND`` before the view runs, on every route, and the request's
organization is made current for the tenant-scoped managers (``core.tenancy``)."""

from typing import Any

from rest_framework.request import Request

from accounts.apikeys import ApiKeyAuthentication, BearerApiKeyAuthentication
from accounts.authentication import AccessTokenAuthentication
from accounts.models import ApiKey
from accounts.session_auth import BrowsableApiSessionAuthentication
from core import tenancy
from tenants.resolution import TENANT_HEADER, membership_resolve


def request_tenant_resolve(request: Request, user: Any, auth: Any) -> None:
    """Resolve and activate the organization of an authenticated request (once)."""
    http: Any = getattr(request, "_request", request)
    if getattr(http, "tenant_membership", None) is not None:
        return
    key_organization = auth.organization_id if isinstance(auth, ApiKey) else None
    membership = membership_resolve(
        user=user, tenant=http.META.get(TENANT_HEADER), organization_id=key_organization
    )
    http.tenant_membership = membership
    tenancy.activate(membership.organization_id)


class _ResolvesTenant:
    def authenticate(self, request: Request) -> Any:
        result = super().authenticate(request)  # type: ignore[misc]
        if result is not None:
            request_tenant_resolve(request, result[0], result[1])
        return result


class TenantAccessTokenAuthentication(_ResolvesTenant, AccessTokenAuthentication):
    pass


class TenantApiKeyAuthentication(_ResolvesTenant, ApiKeyAuthentication):
    pass


class TenantBearerApiKeyAuthentication(_ResolvesTenant, BearerApiKeyAuthentication):
    pass


class TenantBrowsableApiSessionAuthentication(_ResolvesTenant, BrowsableApiSessionAuthentication):
    pass
