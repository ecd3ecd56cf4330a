"""New accounts: open sign-up and an administrator's "add user"."""

from django.db import IntegrityError, transaction
from rest_framework import exceptions as drf_exceptions

from accounts.models import Role, User
from accounts.services.passwords import password_check
from config.exceptions import PermissionDeniedError
from core import policies
from core.actor import Actor
from ops.audit import audit_log
from ops.flags import flag_enabled


def registration_is_open() -> bool:
    """Whether anyone may sign up: the ``registration_open`` feature flag (default from
    the ``REGISTRATION_OPEN`` setting)."""
    return flag_enabled("registration_open")


def _user_new(
    *,
    email: str,
    username: str,
    full_name: str,
    role: str,
    password: str | None,
    is_verified: bool = False,
) -> User:
    """Validate and store a new account: unique email and username, the password policy
    (``None``: no usable password)."""
    email = User.objects.normalize_email(email).strip().lower()
    username = username.strip()
    if role not in Role.values:
        raise drf_exceptions.ValidationError({"role": [f'"{role}" is not a valid role.']})
    errors: dict[str, list[str]] = {}
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["A user with this email address already exists."]
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    if errors:
        raise drf_exceptions.ValidationError(errors)
    user = User(
        email=email,
        username=username,
        full_name=full_name.strip(),
        role=role,
        is_verified=is_verified,
    )
    if password is None:
        user.set_unusable_password()
    else:
        password_check(password, user)
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a parallel sign-up won the race
        raise drf_exceptions.ValidationError(
            {"email": ["A user with this email address or username already exists."]}
        ) from exc
    return user


def user_register(
    *, email: str, username: str, full_name: str, password: str, actor: Actor
) -> User:
    """Create a ``user``-role account (never admin, never pre-verified) from the sign-up form."""
    if not registration_is_open():
        raise PermissionDeniedError("Registration is closed.", code="REGISTRATION_CLOSED")
    user = _user_new(
        email=email, username=username, full_name=full_name, role=Role.USER, password=password
    )
    audit_log(action="user_registered", actor=actor.as_user(user), target=user)
    return user


def user_create(
    *,
    actor: Actor,
    email: str,
    username: str,
    full_name: str = "",
    role: str = Role.USER,
    password: str | None,
    is_verified: bool = False,
) -> User:
    """An administrator creates an account (the console's "add user"); audited."""
    if not policies.can_manage_users(actor):
        raise PermissionDeniedError("This action requires the admin role.")
    user = _user_new(
        email=email,
        username=username,
        full_name=full_name,
        role=role,
        password=password,
        is_verified=is_verified,
    )
    audit_log(action="user_created", actor=actor, target=user, role=user.role)
    return user
