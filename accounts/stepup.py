"""Step-up: the current password, asked again before a change that could take an account over.

Enabling or disabling MFA, replacing backup codes, creating an API key, changing the password
and an admin changing an email address all call :func:`user_password_confirm` in their
service, so a stolen access token alone (no password) can do none of them, whatever the door.

A wrong password is a failed password check like a failed login: it is refused while the
account or the client IP is locked out, it counts towards that lock-out, and it is audited.
"""

from typing import Any

from accounts.audit import audit_log, client_ip
from accounts.models import User
from accounts.throttles import lockout_check, lockout_record_failure
from config.exceptions import ApplicationError

PASSWORD_INCORRECT = "The current password is not correct."


class IncorrectPasswordError(ApplicationError):
    """403 (not 401: the caller's token is fine, and clients must not log out over it)."""

    status_code = 403
    default_code = "INVALID_PASSWORD"
    default_detail = PASSWORD_INCORRECT


def user_password_confirm(
    *, user: User, password: str, purpose: str, field: str = "password", request: Any = None
) -> None:
    """Raise unless ``password`` is ``user``'s current password.

    ``purpose`` names the action in the audit event; ``field`` is the request field the error
    details point at. Raises 429 ``LOCKED_OUT`` while the account or the IP is locked.
    """
    ip = client_ip(request)
    lockout_check(account=user.email, ip=ip)
    if user.check_password(password or ""):
        return
    locked = lockout_record_failure(account=user.email, ip=ip)
    audit_log(
        action="step_up_failed",
        actor=user,
        target=user,
        request=request,
        purpose=purpose,
        locked_out=locked,
    )
    raise IncorrectPasswordError(details={field: [PASSWORD_INCORRECT]})
