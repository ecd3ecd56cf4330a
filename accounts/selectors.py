"""Account reads. Only admins list or open other users; everybody else sees themself."""

import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts.mfa_state import users_with_mfa_state
from accounts.models import User
from config.exceptions import NotFoundError, PermissionDeniedError
from core import policies
from core.actor import Actor

USER_ORDERING_FIELDS = ("created_at", "email", "username", "full_name", "last_login", "role")
# Each field ascending or, with one leading "-", descending.
USER_ORDERINGS = tuple(f"{sign}{field}" for field in USER_ORDERING_FIELDS for sign in ("", "-"))
MAX_SEARCH_LENGTH = 100


def _require_admin(actor: Actor) -> None:
    if not policies.can_manage_users(actor):
        raise PermissionDeniedError("This action requires the admin role.")


def user_list(
    *,
    actor: Actor,
    search: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    ordering: str | None = None,
) -> QuerySet[User]:
    """All users for an admin, filtered, with ``mfa_enabled`` annotated (no per-row queries)."""
    _require_admin(actor)
    queryset = users_with_mfa_state()
    if search:
        term = search.strip()[:MAX_SEARCH_LENGTH]
        queryset = queryset.filter(
            Q(email__icontains=term) | Q(username__icontains=term) | Q(full_name__icontains=term)
        )
    if role:
        queryset = queryset.filter(role=role)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    order = ordering if ordering in USER_ORDERINGS else "-created_at"
    return queryset.order_by(order, "pk")


def user_get(*, actor: Actor, user_id: Any) -> User:
    """One user for an admin (404 when it does not exist)."""
    _require_admin(actor)
    user = users_with_mfa_state().filter(pk=user_id).first() if str(user_id).isdigit() else None
    if user is None:
        raise NotFoundError("User not found.")
    return user


def user_me(*, user: User) -> User:
    """The caller, annotated like the admin list.

    The authentication class loads the caller with ``mfa_enabled`` already (one query per
    request); only a user loaded some other way (registration, login) is fetched again.
    """
    if isinstance(getattr(user, "mfa_enabled", None), bool):
        return user
    return users_with_mfa_state().get(pk=user.pk)


def user_stats(now: dt.datetime) -> dict[str, Any]:
    """The users part of the platform statistics: totals by state and by role."""
    users = User.objects.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(is_active=True)),
        suspended=Count("id", filter=Q(is_active=False)),
        verified=Count("id", filter=Q(is_verified=True)),
    )
    by_role = {row["role"]: row["n"] for row in User.objects.values("role").annotate(n=Count("id"))}
    return {"users": {**users, "by_role": by_role}}
