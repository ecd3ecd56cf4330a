"""Account writes: registration, login, token refresh/logout, profile and admin changes.

Every front door (REST views, the admin console, management commands) calls these functions,
so a rule lives here once. MFA services are in :mod:`accounts.mfa`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.apikeys import api_keys_revoke_all
from accounts.authentication import token_still_valid
from accounts.emails import email_send
from accounts.lockout import credential_attempt, lockout_reset
from accounts.models import RevokedAccessToken, Role, User
from accounts.sessions import user_sessions_revoke
from accounts.stepup import user_password_confirm
from accounts.tokens import enrollment_token_for, issue_tokens, mfa_token_for
from config.exceptions import ApplicationError, PermissionDeniedError
from core import policies
from core.actor import Actor
from ops.audit import audit_log
from ops.flags import flag_enabled

MAX_PREFERENCES_BYTES = 16 * 1024
MAX_DEACTIVATION_REASON_CHARS = 255


class InvalidCredentialsError(ApplicationError):
    """Same status and body for an unknown account and a wrong password (no enumeration)."""

    status_code = 401
    default_code = "INVALID_CREDENTIALS"
    default_detail = "Invalid email or password."


class InvalidTokenError(ApplicationError):
    status_code = 401
    default_code = "INVALID_TOKEN"
    default_detail = "Token is invalid, expired or already used."


class AccountDisabledError(ApplicationError):
    status_code = 403
    default_code = "ACCOUNT_DISABLED"
    default_detail = "This account is suspended. Contact an administrator."


def registration_is_open() -> bool:
    """Whether anyone may sign up: the ``registration_open`` feature flag (default from
    the ``REGISTRATION_OPEN`` setting)."""
    return flag_enabled("registration_open")


# --- Registration ---------------------------------------------------------------------------


def _password_check(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise drf_exceptions.ValidationError({"password": list(exc.messages)}) from exc


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
        _password_check(password, user)
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


# --- Login ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    """What a correct password leads to: a session, an MFA challenge, or enrolment only."""

    user: User
    tokens: dict[str, Any] | None = None
    mfa_token: str | None = None
    enrollment_token: str | None = None


def _user_by_identifier(identifier: str) -> User | None:
    if "@" in identifier:
        return User.objects.filter(email=identifier).first()
    return User.objects.filter(username__iexact=identifier).order_by("pk").first()


def user_login_complete(*, user: User, actor: Actor, method: str) -> dict[str, Any]:
    """The last step of every successful login: tokens, ``last_login``, counters, audit."""
    lockout_reset(account=user.email)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    user.refresh_from_db(fields=["last_login"])
    audit_log(action="login_succeeded", actor=actor.as_user(user), target=user, method=method)
    return issue_tokens(user=user)


def auth_login(*, identifier: str, password: str, actor: Actor) -> LoginOutcome:
    """Check a password login, with lock-out, enumeration-safe failures and MFA."""
    identifier = identifier.strip().lower()
    ip = actor.ip
    user = _user_by_identifier(identifier)
    account = user.email if user is not None else identifier
    with credential_attempt(account=account, ip=ip) as attempt:
        if user is None:
            # Hash anyway, so an unknown address costs the same time as a wrong password.
            User().set_password(password)
            valid = False
        else:
            valid = user.check_password(password)
        if not valid:
            locked = attempt.fail()
            audit_log(
                action="login_failed",
                target=user,
                reason="bad_credentials",
                locked_out=locked,
                actor=actor,
            )
            raise InvalidCredentialsError()
    # An unknown identifier never validates, so it raised above (this tells the type checker).
    assert user is not None
    if not user.is_active:
        audit_log(action="login_failed", target=user, reason="suspended", actor=actor)
        raise AccountDisabledError()
    # The account's failure counter is NOT reset before a second factor: it must be right.
    return login_outcome_for(user=user, method="password", actor=actor)


def login_outcome_for(*, user: User, method: str, actor: Actor) -> LoginOutcome:
    """What a proven first factor (password, mailed code) leads to, the same for every login
    door: the MFA challenge when the user has a device, enrolment only when their role
    requires MFA and they have none, otherwise a session."""
    from accounts.mfa import user_has_mfa

    if user_has_mfa(user=user):
        audit_log(action="login_mfa_challenge", target=user, method=method, actor=actor)
        return LoginOutcome(user=user, mfa_token=mfa_token_for(user=user))
    if policies.requires_mfa(actor.as_user(user)):
        audit_log(action="login_mfa_enrollment_required", target=user, method=method, actor=actor)
        return LoginOutcome(user=user, enrollment_token=enrollment_token_for(user=user))
    return LoginOutcome(
        user=user, tokens=user_login_complete(user=user, method=method, actor=actor)
    )


# --- Refresh and logout ---------------------------------------------------------------------


def auth_token_refresh(*, refresh: str, actor: Actor) -> dict[str, Any]:
    """Rotate a refresh token: the old one is blacklisted, a new pair is issued.

    The outstanding-token row is locked and the blacklist row created in one transaction, so
    of two parallel refreshes of one token exactly one wins.
    """
    try:
        # simplejwt's annotation says Token, but it takes (and documents) the encoded string.
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidTokenError() from exc
    jti = token.get(jwt_settings.JTI_CLAIM)
    with transaction.atomic():
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=jti)
            .order_by("pk")  # its default ordering joins the nullable user: no FOR UPDATE
            .first()
        )
        if outstanding is None:
            raise InvalidTokenError()
        _blacklisted, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not created:
            audit_log(action="refresh_reuse", target=outstanding.user, actor=actor)
            raise InvalidTokenError()
        user = User.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM)).first()
        if user is None or not token_still_valid(token, user):
            raise InvalidTokenError()
        return issue_tokens(user=user)


def access_token_revoke(*, user: User, access_token: Any) -> None:
    """End one access token now (its ``jti`` is checked on every request until it expires)."""
    if access_token is None:
        return
    jti = access_token.get(jwt_settings.JTI_CLAIM)
    exp = access_token.get("exp")
    if not jti or not exp:
        return
    now = timezone.now()
    RevokedAccessToken.objects.filter(expires_at__lt=now).delete()  # keep the table small
    RevokedAccessToken.objects.get_or_create(
        jti=jti, defaults={"user": user, "expires_at": datetime.fromtimestamp(exp, tz=UTC)}
    )


def auth_logout(*, refresh: str, access_token: Any, actor: Actor) -> None:
    """Blacklist the caller's refresh token and end the access token of this request."""
    try:
        payload = token_backend.decode(refresh, verify=True)  # type: ignore[arg-type]  # a str
    except TokenBackendError as exc:
        raise InvalidTokenError() from exc
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh" or str(
        payload.get(jwt_settings.USER_ID_CLAIM)
    ) != str(actor.user.pk):
        raise InvalidTokenError()
    with transaction.atomic():
        outstanding = OutstandingToken.objects.filter(
            jti=payload.get(jwt_settings.JTI_CLAIM)
        ).first()
        if outstanding is not None:
            # Logging out twice is fine: an already blacklisted token stays blacklisted.
            BlacklistedToken.objects.get_or_create(token=outstanding)
        access_token_revoke(user=actor.user, access_token=access_token)
    audit_log(action="logout", actor=actor, target=actor.user)


def auth_refresh_revoke(*, refresh: str, actor: Actor, access_token: Any = None) -> None:
    """End the session of a refresh token presented alone (the browser's refresh cookie).

    The token names its user; an invalid or foreign token is refused like a bad refresh, and
    an already ended one is fine (logging out twice)."""
    try:
        payload = token_backend.decode(refresh, verify=True)  # type: ignore[arg-type]  # a str
    except TokenBackendError as exc:
        raise InvalidTokenError() from exc
    user_id = payload.get(jwt_settings.USER_ID_CLAIM)
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh" or user_id is None:
        raise InvalidTokenError()
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise InvalidTokenError()
    auth_logout(refresh=refresh, access_token=access_token, actor=actor.as_user(user))


def auth_logout_all(*, actor: Actor) -> None:
    """End every session of the caller, on every device, and every API key of theirs.

    This is the "I may be compromised" button: a key minted with a stolen session must die
    with it (a password change, by contrast, keeps the keys; see ``user_password_change``).
    """
    with transaction.atomic():
        user_sessions_revoke(user=actor.user, reason="logout_all")
        api_keys_revoke_all(user=actor.user, actor=actor, reason="logout_all")
    audit_log(action="logout_all", actor=actor, target=actor.user)


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
    _password_check(new_password, actor.user)
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


# --- Profile and admin changes --------------------------------------------------------------

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
        _password_check(password, user)
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


# --- Verified email requirement -------------------------------------------------------------


class EmailNotVerifiedError(PermissionDeniedError):
    default_code = "EMAIL_NOT_VERIFIED"
    default_detail = (
        "Verify your email address first: request a link at /api/v1/auth/email/verify/request."
    )


def user_require_verified(*, actor: Actor) -> None:
    """Raise ``EMAIL_NOT_VERIFIED`` (403) when ``REQUIRE_VERIFIED_EMAIL`` is on and the actor's
    user has not confirmed their address. The one check of every door: the chat services
    (REST and WebSocket), document uploads, and the ``/v1/`` and generate doors' permission.
    The platform (an operator's command) is not asked."""
    if actor.system or actor.user is None:
        return
    if settings.REQUIRE_VERIFIED_EMAIL and not actor.user.is_verified:
        raise EmailNotVerifiedError()
