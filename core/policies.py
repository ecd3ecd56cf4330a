"""The one permission module: who may do what, as plain functions over an :class:`Actor`.

DRF permission classes, services, selectors, the admin console and the WebSocket consumer
all ask these functions, so a rule changes here once. They read the role of the user row that
authentication loaded for this request or frame and the membership the door resolved (the
current roles), never a role claim inside a token.

It lives in ``core`` rather than ``tenants`` because every app asks it, ``accounts`` included
(user management, the console login, the MFA requirement), and ``accounts`` sits below
``tenants`` in the import order. It imports no app: roles are compared by value.
"""

from django.conf import settings

from core.actor import Actor

ADMIN = "admin"
USER = "user"
VIEWER = "viewer"
# Platform roles that may create, change and delete (a ``viewer`` account only reads).
WRITER_ROLES = frozenset({ADMIN, USER})

# Roles inside an organization (tenants.models.MemberRole, compared by value).
ORG_OWNER = "owner"
ORG_ADMIN = "admin"
ORG_MEMBER = "member"
ORG_VIEWER = "viewer"
ORG_ADMIN_ROLES = frozenset({ORG_OWNER, ORG_ADMIN})
ORG_WRITER_ROLES = frozenset({ORG_OWNER, ORG_ADMIN, ORG_MEMBER})


def platform_role_of(actor: Actor) -> str | None:
    """The user's platform role (``admin``, ``user``, ``viewer``), read from the row that
    authentication loaded now."""
    user = actor.user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "role", None)


def role_of(actor: Actor) -> str | None:
    """The actor's role where they act: the membership's in an organization, else the
    platform role."""
    if actor.membership_role is not None:
        return actor.membership_role
    return platform_role_of(actor)


def is_admin(actor: Actor) -> bool:
    """Administrators of the installation (platform): users, organizations, the console."""
    return platform_role_of(actor) == ADMIN


def is_org_admin(actor: Actor) -> bool:
    """Owners and admins of the current organization: members, invitations, quotas, flags,
    settings, shared documents, the organization's usage and audit."""
    return actor.organization is not None and actor.membership_role in ORG_ADMIN_ROLES


def is_org_owner(actor: Actor) -> bool:
    return actor.organization is not None and actor.membership_role == ORG_OWNER


def can_write(actor: Actor) -> bool:
    """Whether the actor may create, change or delete (chats, documents, generations).

    Both the account (a platform ``viewer`` only reads) and the membership (an organization
    ``viewer`` only reads) must allow it. The platform (``actor.system``) may."""
    if actor.system:
        return True
    if platform_role_of(actor) not in WRITER_ROLES:
        return False
    return actor.membership_role is None or actor.membership_role in ORG_WRITER_ROLES


def can_manage_users(actor: Actor) -> bool:
    return is_admin(actor)


def can_use_console(actor: Actor) -> bool:
    """The admin console: active administrators (MFA is checked by the console login)."""
    user = actor.user
    return bool(user is not None and user.is_active and is_admin(actor))


def role_requires_mfa(role: str | None) -> bool:
    """Whether an account of ``role`` must use multi-factor authentication."""
    return role in settings.MFA_REQUIRED_ROLES


def requires_mfa(actor: Actor) -> bool:
    return role_requires_mfa(platform_role_of(actor))


def can_change_document(actor: Actor, *, owner_id: object, shared: bool) -> bool:
    """Whether the actor may delete, reindex, rename or re-share a document they can read:
    its owner, an organization admin when it is shared with the organization, the platform
    (a command) or a platform administrator in the console (no organization there); never a
    viewer (of the account or the organization)."""
    if actor.system:
        return True
    if not can_write(actor):
        return False
    if actor.user_id is not None and actor.user_id == owner_id:
        return True
    if shared and is_org_admin(actor):
        return True
    return actor.organization is None and is_admin(actor)
