"""Login: the password check with lock-out, and what a proven first factor leads to."""

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from accounts.lockout import credential_attempt, lockout_reset
from accounts.models import User
from accounts.services.errors import AccountDisabledError, InvalidCredentialsError
from accounts.tokens import enrollment_token_for, issue_tokens, mfa_token_for
from core import policies
from core.actor import Actor
from ops.audit import audit_log


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
