"""Step-up: the current password, asked again before a change that could take an account over.

Enabling or disabling MFA, replacing backup codes, creating an API key, changing the password
and an admin changing an email address all call :func:`user_password_confirm` in their
service, so a stolen access token alone (no password) can do none of them, whatever the door.

A wrong password is a failed password check like a failed login: it is refused while the
account or the client IP is locked out, it counts towards that lock-out, and it is audited.
"""

from typing import Any

from accounts.lockout import credential_attempt
from accounts.models import User
from config.exceptions import ApplicationError
from ops.audit import audit_log, client_ip

PASSWORD_INCORRECT = "The current password is not correct."


class IncorrectPasswordError(ApplicationError):
    """403 (not 401: the caller's token is fine, and clients must not log out over it)."""

    status_code = 403
    default_code = "INVALID_PASSWORD"
    default_detail = PASSWORD_INCORRECT


def user_password_verify(
    *, user: User, password: str, purpose: str = "password_check", request: Any = None
) -> bool:
    """Whether ``password`` is ``user``'s current password, checked under the login lock-out.

    A failure counts towards the account's lock-out and the IP's slow-down and is audited as
    ``step_up_failed`` with ``purpose``. Raises 429 while the account or the IP must wait.
    """
    with credential_attempt(account=user.email, ip=client_ip(request)) as attempt:
        if user.check_password(password or ""):
            return True
        locked = attempt.fail()
    audit_log(
        action="step_up_failed",
        actor=user,
        target=user,
        request=request,
        purpose=purpose,
        locked_out=locked,
    )
    return False


def user_password_confirm(
    *, user: User, password: str, purpose: str, field: str = "password", request: Any = None
) -> None:
    """Raise unless ``password`` is ``user``'s current password.

    ``purpose`` names the action in the audit event; ``field`` is the request field the error
    details point at. Raises 429 ``LOCKED_OUT`` while the account is locked.
    """
    if not user_password_verify(user=user, password=password, purpose=purpose, request=request):
        raise IncorrectPasswordError(details={field: [PASSWORD_INCORRECT]})
