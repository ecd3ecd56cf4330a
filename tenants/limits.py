"""The caps of an organization (members, documents, storage), checked where rows are added.

The caps live on :class:`tenants.models.Organization` (null: none); billing writes them from
the plan's entitlements, an operator may set them by hand. Each door that adds a member or a
document asks here before it writes, and is refused with ``PLAN_LIMIT`` (403).
"""

from typing import Any

from config.exceptions import ApplicationError
from tenants.models import Membership, MembershipStatus, Organization


class PlanLimitError(ApplicationError):
    status_code = 403
    default_code = "PLAN_LIMIT"
    default_detail = "Your organization's plan does not allow more."


_LABELS = {
    "members": "members",
    "documents": "documents",
    "storage_bytes": "bytes of document storage",
}


def organization_cap_check(
    *, organization: Organization | None, cap: str, current: int, adding: int = 1
) -> None:
    """Refuse (``PLAN_LIMIT``) when ``current + adding`` passes the organization's cap
    ``max_<cap>`` (``members``, ``documents``, ``storage_bytes``). No organization (platform
    code acting for nobody's organization) or no cap: allowed."""
    if organization is None:
        return
    limit = getattr(organization, f"max_{cap}")
    if limit is None or current + adding <= limit:
        return
    raise PlanLimitError(
        f"Your organization's plan allows {limit} {_LABELS[cap]}; "
        "upgrade the plan or remove some first.",
        details={"limit": cap, "max": limit, "current": current},
    )


def organization_member_count(*, organization: Any) -> int:
    return Membership.objects.filter(
        organization=organization, status=MembershipStatus.ACTIVE
    ).count()


def organization_member_cap_check(*, organization: Organization, adding: int = 1) -> None:
    """Before a membership is created (an invitation accepted, a member added)."""
    organization_cap_check(
        organization=organization,
        cap="members",
        current=organization_member_count(organization=organization),
        adding=adding,
    )
