"""Changes to an account: the user's own profile and an administrator's edits (role, suspension)."""

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import exceptions as drf_exceptions

from accounts.models import Role, User
from accounts.services.passwords import password_check
from accounts.sessions import user_sessions_revoke
from accounts.stepup import user_password_confirm
from config.exceptions import ApplicationError
from core.actor import Actor
from ops.audit import audit_log

MAX_PREFERENCES_BYTES = 16 * 1024
MAX_DEACTIVATION_REASON_CHARS = 255
PROFILE_FIELDS = ("username", "full_name", "preferences")
ADMIN_FIELDS = (*PROFILE_FIELDS, "email", "is_verified")


def _apply_fields(*, user: User, data: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    changed = []
    for field in allowed:
        if field in data and getattr(user, field) != data[field]:
            setattr(user, field, data[field])
            changed.append(field)
    if "username" in changed and (
        User.objects.filter(username__iexact=user.username).exclude(pk=user.pk).exists()
    ):
        raise drf_exceptions.ValidationError({"username": ["This username is taken."]})
    if "email" in changed:
        user.email = user.email.strip().lower()
        if User.objects.filter(email__iexact=user.email).exclude(pk=user.pk).exists():
            raise drf_exceptions.ValidationError(
                {"email": ["A user with this email address already exists."]}
            )
    return changed


def user_profile_update(*, user: User, data: dict[str, Any]) -> User:
    """The user's own changes: only username, full name and preferences, whatever is sent."""
    changed = _apply_fields(user=user, data=data, allowed=PROFILE_FIELDS)
    if changed:
        user.save(update_fields=changed)
    return user


def _not_self(*, actor: Actor, user: User, what: str) -> None:
    if actor.user_id == user.pk:
        # An admin who demotes or suspends themself could leave nobody to undo it.
        raise ApplicationError(f"You cannot {what} your own account.", code="SELF_CHANGE_FORBIDDEN")


def _role_change_check(*, actor: Actor, user: User, role: str) -> None:
    if role not in Role.values:
        raise drf_exceptions.ValidationError({"role": [f'"{role}" is not a valid role.']})
    if role != user.role:
        _not_self(actor=actor, user=user, what="change the role of")


def user_update_check(*, actor: Actor, user: User, data: dict[str, Any]) -> None:
    """Raise the error :func:`user_update` would raise for a rule on ``data`` (own role, own
    suspension, an invalid role), before anything is written.

    Forms call it in their validation (the console), so a refused change is shown as one error
    and never half-saved or reported as done; ``user_update`` runs it again itself.
    """
    if "role" in data:
        _role_change_check(actor=actor, user=user, role=data["role"])
    if "is_active" in data and not data["is_active"] and user.is_active:
        _not_self(actor=actor, user=user, what="suspend")


def user_create_by_admin(
    *,
    actor: Actor,
    email: str,
    username: str,
    full_name: str = "",
    role: str = Role.USER,
    password: str | None,
) -> User:
    """An admin creates an account (console): unique email and username, the password policy,
    a valid role; audited as ``user_created``."""
    email = User.objects.normalize_email(email).strip().lower()
    username = username.strip()
    errors: dict[str, list[str]] = {}
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["A user with this email address already exists."]
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    if role not in Role.values:
        errors["role"] = [f'"{role}" is not a valid role.']
    if errors:
        raise drf_exceptions.ValidationError(errors)
    user = User(email=email, username=username, full_name=full_name.strip(), role=role)
    if password is None:
        user.set_unusable_password()  # signs in by emailed code or after a reset
    else:
        password_check(password, user)
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise drf_exceptions.ValidationError(
            {"email": ["A user with this email address or username already exists."]}
        ) from exc
    audit_log(action="user_created", actor=actor, target=user, role=role)
    return user


def user_role_change(*, actor: Actor, user: User, role: str) -> User:
    """Give ``user`` another role; their current tokens (carrying the old role) end."""
    _role_change_check(actor=actor, user=user, role=role)
    if role == user.role:
        return user
    previous = user.role
    with transaction.atomic():
        user.role = role
        user.save(update_fields=["role"])
        user_sessions_revoke(user=user, reason="role_changed")
    audit_log(
        action="role_changed",
        actor=actor,
        target=user,
        old_role=previous,
        new_role=role,
    )
    return user


def user_suspend(*, actor: Actor, user: User, reason: str = "") -> User:
    """Deactivate ``user`` and end every session of theirs at once (REST and WebSocket).

    ``reason`` (why, in a sentence) is kept on the account and in the audit event, so the next
    admin who opens the account sees it."""
    _not_self(actor=actor, user=user, what="suspend")
    reason = " ".join(str(reason or "").split())[:MAX_DEACTIVATION_REASON_CHARS]
    with transaction.atomic():
        fields = []
        if user.is_active:
            user.is_active = False
            fields.append("is_active")
        if reason and reason != user.deactivation_reason:
            user.deactivation_reason = reason
            fields.append("deactivation_reason")
        if fields:
            user.save(update_fields=fields)
        user_sessions_revoke(user=user, reason="suspended")
    audit_log(action="user_suspended", actor=actor, target=user, reason=reason)
    return user


def user_reactivate(*, actor: Actor, user: User) -> User:
    """Let a suspended user log in again (old tokens stay revoked)."""
    if not user.is_active:
        user.is_active = True
        user.deactivation_reason = ""
        user.save(update_fields=["is_active", "deactivation_reason"])
        audit_log(action="user_reactivated", actor=actor, target=user)
    return user


def user_update(
    *,
    actor: Actor,
    user: User,
    data: dict[str, Any],
    current_password: str | None = None,
) -> User:
    """An admin's change to any user; role and active flag go through their own services.

    Changing an email address needs the acting admin's current password (step-up): the
    address is where password resets and sign-in codes go, so a stolen admin token must not
    be able to redirect them.
    """
    user_update_check(actor=actor, user=user, data=data)
    email = data.get("email")
    if isinstance(email, str) and email.strip().lower() != user.email:
        user_password_confirm(
            password=current_password or "",
            purpose="email_change",
            field="current_password",
            actor=actor,
        )
    with transaction.atomic():
        changed = _apply_fields(user=user, data=data, allowed=ADMIN_FIELDS)
        if changed:
            user.save(update_fields=changed)
        if "role" in data:
            user_role_change(actor=actor, user=user, role=data["role"])
        if "is_active" in data and data["is_active"] != user.is_active:
            if data["is_active"]:
                user_reactivate(actor=actor, user=user)
            else:
                user_suspend(
                    actor=actor,
                    user=user,
                    reason=str(data.get("deactivation_reason") or ""),
                )
    if changed:
        audit_log(action="user_updated", actor=actor, target=user, fields=changed)
    return user
