"""Who may use the management console (the Django admin), and its login.

The console is a door like the API: its login runs the same rate limits, the same failure
lock-out (:mod:`accounts.lockout`), the same second factor (TOTP or a hashed backup code) and
the same ``MFA_REQUIRED_ROLES`` rule as ``POST /api/v1/auth/login`` + ``auth/mfa/verify``,
and every outcome is an audit event (``admin_login_succeeded`` / ``admin_login_failed``).
"""

from typing import Any

from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lockout import credential_attempt, lockout_reset
from accounts.mfa import InvalidMfaCodeError, mfa_code_verify
from accounts.mfa_state import user_has_mfa
from accounts.models import User
from accounts.services.errors import AccountDisabledError, InvalidCredentialsError
from accounts.services.login import _user_by_identifier
from accounts.throttles import _digest, rate_limit_check
from config.exceptions import ApplicationError, RateLimitedError
from core import policies
from core.actor import Actor
from ops.audit import audit_log

# Where a user of a role in MFA_REQUIRED_ROLES enrols before the console lets them in.
ENROL_HINT = (
    "Your role requires two-factor authentication. Enrol an authenticator app first: log in "
    "on the chat page (/) and follow the set-up, or use POST /api/v1/auth/login with the "
    "enrolment token it returns on auth/mfa/enable and auth/mfa/confirm."
)


class ConsoleAccessDeniedError(ApplicationError):
    """Right password, but not an account for the console (same words as a wrong password)."""

    status_code = 403
    default_code = "CONSOLE_ACCESS_DENIED"
    default_detail = "Please enter the correct email and password for a staff account."


class MfaCodeRequiredError(ApplicationError):
    status_code = 401
    default_code = "MFA_CODE_REQUIRED"
    default_detail = (
        "Two-factor authentication is on for this account: enter the code from your "
        "authenticator app, or one of your backup codes."
    )


class MfaEnrollmentRequiredError(ApplicationError):
    status_code = 403
    default_code = "MFA_ENROLLMENT_REQUIRED"
    default_detail = ENROL_HINT


def console_session_allowed(*, actor: Actor, otp_verified: bool) -> bool:
    """Whether a signed-in session may use the console: an active admin (the current role),
    past the second factor when the user has one (``otp_verified``: django-otp's session
    check); a user whose role requires MFA but who has no device is kept out until they enrol."""
    if not policies.can_use_console(actor):
        return False
    if user_has_mfa(user=actor.user):
        return otp_verified
    return not policies.requires_mfa(actor)


def _device_for(*, user: User, method: str) -> Device | None:
    """The device ``mfa_code_verify`` just accepted a code of (the same first confirmed one)."""
    model = TOTPDevice if method == "totp" else StaticDevice
    return model.objects.filter(user=user, confirmed=True).order_by("pk").first()


def _failed(*, user: User | None, actor: Actor, reason: str, **details: Any) -> None:
    audit_log(action="admin_login_failed", target=user, reason=reason, **details, actor=actor)


def console_login(
    *, identifier: str, password: str, code: str = "", actor: Actor
) -> tuple[User, Device | None]:
    """Check a console login; returns the user and the device of the second factor (None
    when the user has no MFA). Raises an :class:`ApplicationError` that says why not."""
    identifier = identifier.strip().lower()
    ip = actor.ip
    # The API's login rates, so the console is no cheaper to hammer than the API.
    rate_limit_check(scope="login_ip", ident=ip)
    rate_limit_check(scope="login", ident=_digest(identifier))
    user = _user_by_identifier(identifier)
    account = user.email if user is not None else identifier
    device: Device | None = None
    method = "password"
    try:
        with credential_attempt(account=account, ip=ip) as attempt:
            if user is None:
                User().set_password(password)  # the same work as for a wrong password
                valid = False
            else:
                valid = user.check_password(password)
            if not valid:
                locked = attempt.fail()
                _failed(user=user, reason="bad_credentials", locked_out=locked, actor=actor)
                raise InvalidCredentialsError()
            if not user.is_active:
                _failed(user=user, reason="suspended", actor=actor)
                raise AccountDisabledError()
            if not policies.is_admin(actor.as_user(user)):
                _failed(user=user, reason="not_staff", actor=actor)
                raise ConsoleAccessDeniedError()
            if user_has_mfa(user=user):
                if not code.strip():
                    # Not a failure: the password was right, the second step is missing.
                    raise MfaCodeRequiredError()
                second = mfa_code_verify(user=user, code=code)
                if second is None:
                    locked = attempt.fail()
                    _failed(user=user, reason="bad_mfa_code", locked_out=locked, actor=actor)
                    raise InvalidMfaCodeError()
                device = _device_for(user=user, method=second)
                method = f"password+{second}"
                if second == "backup":
                    audit_log(action="mfa_backup_code_used", actor=actor.as_user(user), target=user)
            elif policies.requires_mfa(actor.as_user(user)):
                _failed(user=user, reason="mfa_enrollment_required", actor=actor)
                raise MfaEnrollmentRequiredError()
    except RateLimitedError as exc:
        if exc.error_code in ("LOCKED_OUT", "SLOW_DOWN"):
            _failed(user=user, reason=exc.error_code.lower(), actor=actor)
        raise
    lockout_reset(account=user.email)
    audit_log(
        action="admin_login_succeeded",
        actor=actor.as_user(user),
        target=user,
        method=method,
    )
    return user, device
