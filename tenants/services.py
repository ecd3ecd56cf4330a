"""Writes of organizations: creation, the personal organization of a user, settings,
deletion requests, the default organization, suspension by the platform."""

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from config.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from core.actor import Actor
from core.policies import WRITER_ROLES, is_admin, is_org_admin, is_org_owner, platform_role_of
from ops.audit import audit_log
from tenants.models import MemberRole, Membership, Organization, OrganizationStatus
from tenants.notify import sockets_close_for

SLUG_MAX = 64


def _acting_in(actor: Actor, organization: Organization) -> Actor:
    """The actor recorded in ``organization``'s audit trail (the console and the creation of
    an organization act from another organization, or from none)."""
    return dataclasses.replace(actor, organization=organization)


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
    if not (actor.system or platform_role_of(actor) in WRITER_ROLES):
        raise PermissionDeniedError("Your account can read but not create organizations.")
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
        actor=_acting_in(actor, organization),
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


# --- Settings, deletion, default, suspension -----------------------------------------------

SYSTEM_PROMPT_MAX_CHARS = 8000


def _require_org_admin(actor: Actor) -> Organization:
    if not is_org_admin(actor):
        raise PermissionDeniedError("Only the organization's owners and admins may do this.")
    return actor.organization


# The chat models the platform allows, as the ``ai`` app decides them (its provider and
# ``AI_ALLOWED_MODELS``). ``ai`` sits above this app, so it registers the function here
# (``AiConfig.ready``) instead of this app importing it.
_platform_models: list[Callable[[], list[str]]] = []


def platform_models_register(source: Callable[[], list[str]]) -> None:
    _platform_models[:] = [source]


def organization_models_validate(models: list[str]) -> list[str]:
    """``models`` without duplicates, each one the platform allows (``AI_ALLOWED_MODELS`` or
    the configured chat model); an empty list means every model the platform allows."""
    if not _platform_models:
        raise RuntimeError("No source of the platform's models is registered (the ai app).")
    platform = _platform_models[0]()
    cleaned: list[str] = []
    unknown: list[str] = []
    for name in models:
        name = str(name).strip()
        if name in cleaned:
            continue
        (cleaned if name in platform else unknown).append(name)
    if unknown:
        raise ApplicationError(
            "Some models are not allowed on this platform.",
            code="VALIDATION_ERROR",
            details={"allowed_models": [f"Not allowed here: {', '.join(unknown)}."]},
        )
    return cleaned


def organization_update(
    *,
    actor: Actor,
    name: str | None = None,
    slug: str | None = None,
    system_prompt: str | None = None,
    allowed_models: list[str] | None = None,
) -> Organization:
    """Change the current organization's name, slug, system prompt or model allow-list
    (owners and admins); audited with the names of the fields changed."""
    organization = _require_org_admin(actor)
    changes: dict[str, Any] = {}
    if name is not None:
        name = " ".join(name.split())[:200]
        if not name:
            raise ApplicationError(
                "The organization needs a name.",
                code="VALIDATION_ERROR",
                details={"name": ["This field may not be blank."]},
            )
        changes["name"] = name
    if slug is not None and slug != organization.slug:
        if slugify(slug)[:SLUG_MAX] != slug or not slug:
            raise ApplicationError(
                "A slug is lower-case letters, digits and hyphens.",
                code="VALIDATION_ERROR",
                details={"slug": ["Use lower-case letters, digits and hyphens."]},
            )
        changes["slug"] = slug
    if system_prompt is not None:
        changes["system_prompt"] = system_prompt.strip()[:SYSTEM_PROMPT_MAX_CHARS]
    if allowed_models is not None:
        changes["allowed_models"] = organization_models_validate(allowed_models)
    if not changes:
        return organization
    try:
        with transaction.atomic():
            locked = Organization.objects.select_for_update().get(pk=organization.pk)
            for field, value in changes.items():
                setattr(locked, field, value)
            locked.save(update_fields=list(changes))
    except IntegrityError:
        raise ApplicationError(
            "That slug is taken.",
            code="CONFLICT",
            status_code=409,
            details={"slug": ["An organization with this slug already exists."]},
        ) from None
    audit_log(actor=actor, action="organization.update", target=locked, fields=sorted(changes))
    return locked


def organization_delete_current(*, actor: Actor) -> Organization:
    """Delete the current organization (owners only): it is closed at once (every member's
    requests answer 404, their sockets close) and the resumable deletion job
    (:mod:`tenants.deletion`) removes its chats, documents and vectors, keeping usage records
    for accounting. A personal organization ends with its user."""
    from tenants.deletion import organization_delete_request

    if not is_org_owner(actor):
        raise PermissionDeniedError("Only an owner may delete the organization.")
    organization = actor.organization
    if organization.is_personal:
        raise ConflictError(
            "A personal organization is deleted with its user's account.",
            code="PERSONAL_ORGANIZATION",
        )
    members = list(
        Membership.objects.filter(organization=organization).values_list("user_id", flat=True)
    )
    with transaction.atomic():
        organization_delete_request(actor=actor, organization=organization)
        # Members whose default it was fall back to another organization of theirs.
        Membership.objects.filter(organization=organization, is_default=True).update(
            is_default=False
        )
        sockets_close_for(
            user_ids=members,
            organization_id=organization.pk,
            code="TENANT_NOT_FOUND",
            message="This organization is being deleted.",
        )
    # Not read back: the job may already have removed the row (an inline or fast runner).
    organization.status = OrganizationStatus.DELETING
    return organization


def membership_default_set(*, actor: Actor) -> Membership:
    """Make the current organization the one the user's requests without ``X-Tenant-ID``
    act in."""
    user_id = actor.user_id
    if user_id is None or actor.organization is None:
        raise PermissionDeniedError()
    with transaction.atomic():
        memberships = Membership.objects.select_for_update().filter(user_id=user_id)
        target = memberships.filter(organization_id=actor.organization_id).first()
        if target is None:
            raise PermissionDeniedError()
        memberships.filter(is_default=True).exclude(pk=target.pk).update(is_default=False)
        if not target.is_default:
            target.is_default = True
            target.save(update_fields=["is_default"])
    audit_log(actor=actor, action="organization.default_set", target=actor.organization)
    return target


def organization_status_set(*, actor: Actor, organization: Organization, suspend: bool) -> bool:
    """Suspend or reactivate an organization (platform administrators, from the console):
    its members' requests answer 403 ``TENANT_SUSPENDED`` from the next one on (the
    membership cache is cleared on save) and their sockets in it close at once. Returns
    whether anything changed; audited."""
    if not (actor.system or is_admin(actor)):
        raise PermissionDeniedError("Only platform administrators suspend organizations.")
    wanted = OrganizationStatus.SUSPENDED if suspend else OrganizationStatus.ACTIVE
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.status == wanted or locked.status == OrganizationStatus.DELETING:
            return False
        locked.status = wanted
        locked.suspended_at = timezone.now() if suspend else None
        locked.save(update_fields=["status", "suspended_at"])
        audit_log(
            actor=_acting_in(actor, locked),
            action="organization.suspend" if suspend else "organization.unsuspend",
            target=locked,
        )
        if suspend:
            sockets_close_for(
                user_ids=Membership.objects.filter(organization=locked).values_list(
                    "user_id", flat=True
                ),
                organization_id=locked.pk,
                code="TENANT_SUSPENDED",
                message="This organization is suspended.",
            )
    return True


# --- Feature flags of an organization ------------------------------------------------------


def organization_flag_set(*, actor: Actor, name: str, enabled: bool) -> None:
    """Override a feature flag for the current organization (owners and admins; audited in
    its trail)."""
    from ops.flags import feature_flag_set

    _require_org_admin(actor)
    feature_flag_set(name=name, enabled=enabled, actor=actor, organization_id=actor.organization_id)


def organization_flag_delete(*, actor: Actor, name: str) -> None:
    """Drop the current organization's override: the platform's value applies again."""
    from ops.flags import feature_flag_delete, feature_flag_name_validate

    _require_org_admin(actor)
    feature_flag_name_validate(name)
    feature_flag_delete(name=name, actor=actor, organization_id=actor.organization_id)
