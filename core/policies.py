"""The one permission module: who may do what, as plain functions over an :class:`Actor`.

DRF permission classes, services, selectors, the admin console and the WebSocket consumer
all ask these functions, so a rule changes here once. They read the role of the user row that
authentication loaded for this request or frame (the current role), never a role claim inside
a token; once organizations exist they read the actor's membership role instead.

It lives in ``core`` rather than ``tenants`` because every app asks it, ``accounts`` included
(user management, the console login, the MFA requirement), and ``accounts`` sits below
``tenants`` in the import order. It imports no app: roles are compared by value.
"""

from django.conf import settings

from core.actor import Actor

ADMIN = "admin"
USER = "user"
VIEWER = "viewer"
# Roles that may create, change and delete (viewers only read).
WRITER_ROLES = frozenset({ADMIN, USER})


def role_of(actor: Actor) -> str | None:
    """The actor's current role: the membership's when there is one, else the user's."""
    if actor.membership_role is not None:
        return actor.membership_role
    user = actor.user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "role", None)


def is_admin(actor: Actor) -> bool:
    """Administrators of the installation: users, quotas, flags, rate limits, the console."""
    return role_of(actor) == ADMIN


def can_write(actor: Actor) -> bool:
    """Whether the actor may create, change or delete (chats, documents, generations).

    The platform (``actor.system``: an operator's command) may."""
    return actor.system or role_of(actor) in WRITER_ROLES


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
    return role_requires_mfa(role_of(actor))
