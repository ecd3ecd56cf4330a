"""Writes of organizations and memberships: creation, the personal organization of a user."""

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from config.exceptions import ApplicationError
from core.actor import Actor
from core.policies import is_admin
from ops.audit import audit_log
from tenants.models import MemberRole, Membership, Organization

SLUG_MAX = 64


def _free_slug(base: str) -> str:
    stem = (slugify(base) or "org")[: SLUG_MAX - 9].strip("-") or "org"
    if not Organization.objects.filter(slug=stem).exists():
        return stem
    for _ in range(20):
        candidate = f"{stem}-{secrets.token_hex(4)}"
        if not Organization.objects.filter(slug=candidate).exists():
            return candidate
    raise ApplicationError("Could not pick a free slug.", code="CONFLICT", status_code=409)


def organization_create(
    *,
    actor: Actor,
    name: str,
    owner: Any,
    slug: str | None = None,
    is_personal: bool = False,
    slug_hint: str | None = None,
) -> Organization:
    """A new organization with ``owner`` as its owner (their default one if they have none).

    Any authenticated user may create one for themselves; only the platform (an operator's
    command, a platform admin) may create one owned by somebody else."""
    if owner is None:
        raise ApplicationError("An organization needs an owner.", code="VALIDATION_ERROR")
    if not (actor.system or is_admin(actor) or actor.user_id == owner.pk):
        raise ApplicationError(
            "You may only create organizations you own.", code="PERMISSION_DENIED", status_code=403
        )
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ApplicationError(
            "The organization needs a name.",
            code="VALIDATION_ERROR",
            details={"name": ["This field may not be blank."]},
        )
    if slug:
        wanted = slugify(slug)[:SLUG_MAX]
        if not wanted or wanted != slug:
            raise ApplicationError(
                "A slug is lower-case letters, digits and hyphens.",
                code="VALIDATION_ERROR",
                details={"slug": ["Use lower-case letters, digits and hyphens."]},
            )
    try:
        with transaction.atomic():
            organization = Organization.objects.create(
                name=name, slug=slug or _free_slug(slug_hint or name), is_personal=is_personal
            )
            has_default = Membership.objects.filter(user=owner, is_default=True).exists()
            Membership.objects.create(
                organization=organization,
                user=owner,
                role=MemberRole.OWNER,
                is_default=not has_default,
            )
    except IntegrityError:
        raise ApplicationError(
            "That slug is taken.",
            code="CONFLICT",
            status_code=409,
            details={"slug": ["An organization with this slug already exists."]},
        ) from None
    if is_personal:
        # Part of creating the user (audited there), not an administrative act of its own.
        return organization
    audit_log(
        actor=actor,
        action="organization.create",
        target=organization,
        slug=organization.slug,
        owner_id=owner.pk,
        personal=is_personal,
    )
    return organization


def personal_organization_ensure(*, user: Any) -> Organization:
    """The user's personal organization, created (as their default) when they have none."""
    existing = (
        Organization.objects.filter(is_personal=True, memberships__user=user)
        .order_by("created_at")
        .first()
    )
    if existing is not None:
        return existing
    label = (getattr(user, "full_name", "") or user.email.split("@", 1)[0]).strip()
    return organization_create(
        actor=Actor(user=user, system=True),
        name=f"{label} (personal)",
        owner=user,
        slug_hint=user.email.split("@", 1)[0],
        is_personal=True,
    )
