"""Writes of quota settings: a user's override (platform administrators) and an
organization's budgets (its owners and admins, and the console); both audited."""

from dataclasses import asdict
from typing import Any

from django.db import transaction

from accounts.models import User
from config.exceptions import ApplicationError, PermissionDeniedError
from core import policies
from core.actor import Actor
from metering.models import OrganizationQuota, Quota
from metering.quotas.limits import ORGANIZATION_QUOTA_FIELDS, QUOTA_FIELDS, quota_limits_for
from ops.audit import audit_log


def quota_override_get(*, user: User) -> dict[str, Any]:
    """The stored override (nulls = role default) and the effective limits."""
    override = Quota.objects.filter(user_id=user.pk).first()
    return {
        "user_id": user.pk,
        "role": user.role,
        **{name: getattr(override, name, None) if override else None for name in QUOTA_FIELDS},
        "effective": asdict(quota_limits_for(user=user)),
    }


def quota_override_set(*, user: User, actor: Actor, data: dict[str, int | None]) -> dict[str, Any]:
    """Set the override fields given in ``data`` (null = back to the role default); audited."""
    with transaction.atomic():
        quota, _ = Quota.objects.select_for_update().get_or_create(user_id=user.pk)
        before = {name: getattr(quota, name) for name in QUOTA_FIELDS}
        for name in QUOTA_FIELDS:
            if name in data:
                setattr(quota, name, data[name])
        quota.updated_by = actor.user if actor.user_id is not None else None
        quota.save()
        after = {name: getattr(quota, name) for name in QUOTA_FIELDS}
    if before != after:
        audit_log(action="quota_changed", actor=actor, target=user, old=before, new=after)
    return quota_override_get(user=user)


def _require(actor: Actor, organization: Any) -> None:
    """Owners and admins of this very organization (the API); platform administrators in
    the console, which acts outside any organization."""
    if actor.organization is None:
        allowed = policies.is_admin(actor)
    else:
        allowed = policies.is_org_admin(actor) and actor.organization_id == organization.pk
    if not allowed:
        raise PermissionDeniedError("Only the organization's owners and admins manage its quotas.")


def organization_quota_get(*, actor: Actor, organization: Any) -> dict[str, Any]:
    """The organization's budgets and member limits (null = no limit)."""
    _require(actor, organization)
    row = OrganizationQuota.objects.filter(organization_id=organization.pk).first()
    return {
        "organization_id": organization.pk,
        **{name: getattr(row, name) if row else None for name in ORGANIZATION_QUOTA_FIELDS},
        "updated_at": row.updated_at if row else None,
    }


# Pairs that must hold when both are set (a member limit above the budget, or a day above
# the month, is a typo: it could never be reached).
_ORDERED = (
    ("member_daily_tokens", "daily_tokens"),
    ("member_monthly_tokens", "monthly_tokens"),
    ("daily_tokens", "monthly_tokens"),
    ("member_daily_tokens", "member_monthly_tokens"),
)


def organization_quota_validate(values: dict[str, int | None]) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or value < 0):
            errors[name] = ["A whole number of tokens, 0 or more, or null for no limit."]
    for small, large in _ORDERED:
        if small in errors or large in errors:
            continue
        low, high = values.get(small), values.get(large)
        if low is not None and high is not None and low > high:
            errors.setdefault(small, []).append(f"Must not exceed {large} ({high}).")
    if errors:
        raise ApplicationError(
            "Invalid organization quota.", code="VALIDATION_ERROR", details=errors
        )


def organization_quota_set(
    *, actor: Actor, organization: Any, data: dict[str, int | None]
) -> dict[str, Any]:
    """Set the fields given in ``data`` (null = no limit); validated and audited."""
    _require(actor, organization)
    with transaction.atomic():
        quota, _ = OrganizationQuota.objects.select_for_update().get_or_create(
            organization_id=organization.pk
        )
        before = {name: getattr(quota, name) for name in ORGANIZATION_QUOTA_FIELDS}
        after = {**before, **{k: v for k, v in data.items() if k in ORGANIZATION_QUOTA_FIELDS}}
        organization_quota_validate(after)
        for name, value in after.items():
            setattr(quota, name, value)
        quota.updated_by = actor.user if actor.user_id is not None else None
        quota.save()
    if before != after:
        audit_log(
            action="organization.quota_changed",
            actor=actor,
            target=organization,
            old=before,
            new=after,
        )
    return organization_quota_get(actor=actor, organization=organization)
