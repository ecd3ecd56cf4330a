"""Passwords: the policy check, the user's change and the end of sessions after an admin's reset."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import exceptions as drf_exceptions

from accounts.apikeys import api_keys_revoke_all
from accounts.emails import email_send
from accounts.models import User
from accounts.sessions import user_sessions_revoke
from accounts.stepup import user_password_confirm
from accounts.tokens import issue_tokens
from core.actor import Actor
from ops.audit import audit_log


def password_check(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise drf_exceptions.ValidationError({"password": list(exc.messages)}) from exc


def user_password_change(
    *, current_password: str, new_password: str, actor: Actor
) -> dict[str, Any]:
    """Change the password, end every other session and return a fresh pair for this one.

    API keys are kept: a routine change (the user knows the old password) is not a sign of
    compromise, and scripts keep working. Logout-all and a reset end the keys too.
    """
    user_password_confirm(
        password=current_password,
        purpose="password_change",
        field="current_password",
        actor=actor,
    )
    password_check(new_password, actor.user)
    actor.user.set_password(new_password)
    actor.user.save(update_fields=["password"])
    user_sessions_revoke(user=actor.user, reason="password_changed")
    audit_log(action="password_changed", actor=actor, target=actor.user)
    email_send(to=actor.user.email, kind="password_changed", context={"user": actor.user})
    return issue_tokens(user=actor.user)


def user_password_reset_by_admin(*, actor: Actor, user: User) -> None:
    """After an admin set a new password (console): the user's sessions and API keys end, as
    with a reset by email (an admin resets an account that may be compromised)."""
    with transaction.atomic():
        user_sessions_revoke(user=user, reason="password_reset")
        api_keys_revoke_all(user=user, actor=actor, reason="password_reset")
    audit_log(action="password_reset_by_admin", actor=actor, target=user)
