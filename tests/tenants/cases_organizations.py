"""Cases of the organizations API (``tenants/api``) and of the current organization's usage
and quotas (``metering/api/organization_urls.py``).

The ``{organization}`` of a path is the one of the targeted rows: in the walk, b1 names A in
the path while acting in B, which is A not found (``organization_actor`` resolves it like
``X-Tenant-ID``); in the role matrix every role names its own organization."""

from tests.tenants.casekit import (
    Call,
    Case,
    account_route,
    everyone,
    not_found,
    status_is,
    usage_of_b_only,
)
from tests.tenants.world import Ids

# A flag the code reads (``ops.flags.FLAG_DEFAULTS``): the only names an organization sets.
ORG_FLAG = "rag_enabled"


def org_admins(status: int) -> dict[str, int]:
    """Owners and admins of the organization (``core.policies.is_org_admin``)."""
    return {**everyone(status), "member": 403, "viewer": 403}


def org_owners(status: int) -> dict[str, int]:
    """The organization's owners only (``core.policies.is_org_owner``)."""
    return {**org_admins(status), "admin": 403}


def _org(ids: Ids, tail: str = "") -> str:
    return f"/api/v1/organizations/{ids.organization.pk}{tail}"


def _invitation(ids: Ids, tail: str = "") -> str:
    return _org(ids, f"/invitations/{ids.invitation}{tail}")


ORGANIZATION_CASES: dict[tuple[str, str], Case] = {
    ("api:organization-list", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/organizations"),
        # Only b1's own organizations: no id, slug or name of A (the walk's generic check).
        walk=status_is(200),
        roles=account_route(200),
    ),
    ("api:organization-list", "POST"): Case(
        call=lambda ids: Call("POST", "/api/v1/organizations", {"name": "Another team"}),
        walk=status_is(201),
        roles=account_route(201),
    ),
    ("api:organization-detail", "GET"): Case(
        call=lambda ids: Call("GET", _org(ids)),
        walk=not_found,
        roles=everyone(200),
    ),
    ("api:organization-detail", "PATCH"): Case(
        call=lambda ids: Call("PATCH", _org(ids), {"name": "Renamed"}),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", _org(ids)),
        walk=not_found,
        roles=org_owners(202),
    ),
    ("api:organization-default", "POST"): Case(
        call=lambda ids: Call("POST", _org(ids, "/default"), {}),
        walk=not_found,
        roles=everyone(200),
    ),
    ("api:organization-members", "GET"): Case(
        call=lambda ids: Call("GET", _org(ids, "/members")),
        walk=not_found,
        roles=everyone(200),
    ),
    ("api:organization-member-detail", "PATCH"): Case(
        # The acting member's own membership, to viewer.
        call=lambda ids: Call("PATCH", _org(ids, f"/members/{ids.user.pk}"), {"role": "viewer"}),
        walk=not_found,
        # The owner is the last one: LAST_OWNER.
        roles={**org_admins(200), "owner": 409},
    ),
    ("api:organization-member-detail", "DELETE"): Case(
        # Their own id: leaving the organization.
        call=lambda ids: Call("DELETE", _org(ids, f"/members/{ids.user.pk}")),
        walk=not_found,
        # The owner is the last one: LAST_OWNER.
        roles={**everyone(204), "owner": 409},
    ),
    ("api:organization-invitations", "GET"): Case(
        call=lambda ids: Call("GET", _org(ids, "/invitations")),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-invitations", "POST"): Case(
        call=lambda ids: Call(
            "POST", _org(ids, "/invitations"), {"email": "newcomer@example.com", "role": "member"}
        ),
        walk=not_found,
        roles=org_admins(201),
    ),
    ("api:organization-invitation-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", _invitation(ids)),
        walk=not_found,
        roles=org_admins(204),
    ),
    ("api:organization-invitation-resend", "POST"): Case(
        call=lambda ids: Call("POST", _invitation(ids, "/resend"), {}),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-invitation-accept", "POST"): Case(
        # A token of nobody's invitation: no organization is joined by guessing.
        call=lambda ids: Call("POST", "/api/v1/organizations/invitations/accept", {"token": "x"}),
        walk=status_is(404),
        roles=account_route(404),
    ),
    ("api:organization-audit", "GET"): Case(
        call=lambda ids: Call("GET", _org(ids, "/audit")),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-flags", "GET"): Case(
        call=lambda ids: Call("GET", _org(ids, "/flags")),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-flag-detail", "PUT"): Case(
        call=lambda ids: Call("PUT", _org(ids, f"/flags/{ORG_FLAG}"), {"enabled": True}),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:organization-flag-detail", "DELETE"): Case(
        call=lambda ids: Call("DELETE", _org(ids, f"/flags/{ORG_FLAG}")),
        walk=not_found,
        roles=org_admins(204),
    ),
    # --- the current organization's usage and quotas (metering) ------------------------------
    ("api:organization-usage", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/organizations/current/usage"),
        walk=usage_of_b_only,
        roles=org_admins(200),
    ),
    ("api:organization-quotas", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/organizations/current/quotas"),
        walk=status_is(200),
        roles=org_admins(200),
    ),
    ("api:organization-quotas", "PUT"): Case(
        call=lambda ids: Call(
            "PUT", "/api/v1/organizations/current/quotas", {"daily_tokens": 100_000}
        ),
        walk=status_is(200),
        roles=org_admins(200),
    ),
}
