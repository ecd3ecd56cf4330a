"""Self-service account lifecycle: email verification, password reset, sign-in by email code.

Rules that keep these flows safe:

* no enumeration: requests that name an address (forgot password, code request) give the same
  answer, in the same time, whether or not an account exists: everything that depends on the
  address runs after the answer is sent (``accounts.deferred``);
* links and codes are single use and expire; a reset link dies with any password change
  (Django's ``PasswordResetTokenGenerator`` hashes the password into the token);
* codes live only hashed (HMAC with the secret key) in the cache, Redis when configured, so
  every worker agrees and a cache dump does not reveal a usable code;
* nothing here bypasses MFA: a code login or a fresh password still ends in the MFA challenge.
"""

import hashlib
import hmac
import secrets
import time
from functools import partial

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.apikeys import api_keys_revoke_all
from accounts.deferred import after_response
from accounts.emails import email_render, email_send, frontend_link
from accounts.lockout import credential_attempt, lockout_reset
from accounts.models import User
from accounts.services.login import LoginOutcome, login_outcome_for
from accounts.services.passwords import password_check
from accounts.sessions import user_sessions_revoke
from accounts.throttles import _digest
from config.exceptions import ApplicationError
from core.actor import Actor
from ops.audit import audit_log

VERIFY_SALT = "accounts.email-verification"
CODE_LENGTH = 6


class InvalidLinkTokenError(ApplicationError):
    """A verification or reset token that is malformed, expired, used or superseded."""

    status_code = 400
    default_code = "INVALID_OR_EXPIRED_TOKEN"
    default_detail = "This link is invalid, expired or was already used. Request a new one."


class InvalidLoginCodeError(ApplicationError):
    """Same answer for an unknown address, a wrong, expired, used or exhausted code."""

    status_code = 401
    default_code = "INVALID_CODE"
    default_detail = "The code is invalid or expired. Request a new one."


class CodeLoginDisabledError(ApplicationError):
    status_code = 403
    default_code = "CODE_LOGIN_DISABLED"
    default_detail = "Sign-in by email code is turned off on this server."


class EmailAlreadyVerifiedError(ApplicationError):
    status_code = 409
    default_code = "EMAIL_ALREADY_VERIFIED"
    default_detail = "Your email address is already verified."


def _active_user_by_email(email: str) -> User | None:
    return User.objects.filter(email=email.strip().lower(), is_active=True).first()


# --- Email verification ---------------------------------------------------------------------


def email_verification_token(*, user: User) -> str:
    """A signed, expiring token naming the user and the address being confirmed."""
    return signing.dumps({"u": user.pk, "e": user.email}, salt=VERIFY_SALT, compress=True)


def email_verification_request(*, actor: Actor) -> None:
    """Mail the caller a link that confirms their address."""
    if actor.user.is_verified:
        raise EmailAlreadyVerifiedError()
    token = email_verification_token(user=actor.user)
    email_send(
        to=actor.user.email,
        kind="verify_email",
        context={
            "user": actor.user,
            "link": frontend_link(verify=token),
            "expires_hours": max(1, settings.EMAIL_VERIFY_TIMEOUT // 3600),
        },
    )
    audit_log(action="email_verification_requested", actor=actor, target=actor.user)


def email_verify(*, token: str, actor: Actor) -> User:
    """Mark the address in ``token`` verified. Single use: a verified user's token is refused,
    as is one for an address the user no longer has."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=settings.EMAIL_VERIFY_TIMEOUT)
        user_id, email = int(data["u"]), str(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidLinkTokenError() from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None or user.email != email or user.is_verified:
            raise InvalidLinkTokenError()
        user.is_verified = True
        user.save(update_fields=["is_verified"])
    audit_log(action="email_verified", actor=actor.as_user(user), target=user)
    return user


# --- Password reset -------------------------------------------------------------------------

_reset_tokens = PasswordResetTokenGenerator()


def password_reset_token(*, user: User) -> str:
    """``<uid>.<token>``: invalid after ``PASSWORD_RESET_TIMEOUT`` or any password change."""
    return f"{urlsafe_base64_encode(force_bytes(user.pk))}.{_reset_tokens.make_token(user)}"


def password_forgot(*, email: str, actor: Actor) -> None:
    """Mail a reset link when an active account has this address; silently nothing otherwise.

    Nothing that depends on the address runs before the answer (see ``accounts.deferred``),
    so a known and an unknown address cost the request the same time.
    """
    after_response(partial(_password_forgot_send, email=email, actor=actor))


def _password_forgot_send(*, email: str, actor: Actor) -> None:
    user = _active_user_by_email(email)
    # An unknown address gets the same work short of sending (a link for a stand-in user, the
    # mail rendered): this runs after the answer, but it can still delay the caller's next
    # request on the same connection, and that delay must not tell either.
    recipient = user or _stand_in(email)
    context = {
        "user": recipient,
        "link": frontend_link(reset=password_reset_token(user=recipient)),
        "expires_minutes": max(1, settings.PASSWORD_RESET_TIMEOUT // 60),
    }
    if user is None:
        email_render(kind="password_reset", context=context)
    else:
        email_send(to=user.email, kind="password_reset", context=context)
    audit_log(action="password_reset_requested", target=user, known=user is not None, actor=actor)


def _stand_in(email: str) -> User:
    """An unsaved user for the address, to do an unknown address's work like a known one's."""
    return User(email=email.strip().lower(), username=email.split("@", 1)[0])


def _user_from_reset_token(token: str) -> User:
    uid, _, raw = token.partition(".")
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidLinkTokenError() from exc
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not raw or not _reset_tokens.check_token(user, raw):
        raise InvalidLinkTokenError()
    return user


def password_reset(*, token: str, new_password: str, actor: Actor) -> User:
    """Set a new password from a reset link; every session and API key of the user ends, MFA
    stays on."""
    user = _user_from_reset_token(token)
    password_check(new_password, user)
    with transaction.atomic():
        # Lock the row and re-check: of two parallel uses of one link only one succeeds.
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not _reset_tokens.check_token(locked, token.partition(".")[2]):
            raise InvalidLinkTokenError()
        locked.set_password(new_password)
        # Following the link proved the mailbox is theirs.
        locked.is_verified = True
        locked.save(update_fields=["password", "is_verified"])
        user_sessions_revoke(user=locked, reason="password_reset")
        # A reset is the "I may be compromised" path: API keys end with the sessions.
        api_keys_revoke_all(user=locked, actor=actor.as_user(locked), reason="password_reset")
    lockout_reset(account=locked.email)
    audit_log(action="password_reset", actor=actor.as_user(locked), target=locked)
    email_send(to=locked.email, kind="password_changed", context={"user": locked})
    return locked


# --- Sign-in by email code ------------------------------------------------------------------


def _code_key(email: str) -> str:
    return f"login_code:{_digest(email)}"


def _code_hash(user_id: int, code: str) -> str:
    key = force_bytes(settings.SECRET_KEY)
    return hmac.new(key, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def login_code_request(*, email: str, actor: Actor) -> None:
    """Mail a 6-digit single-use code to an active account; nothing otherwise (same answer).

    As with ``password_forgot``, the look-up, the code and the mail run after the answer.
    """
    if not settings.EMAIL_CODE_LOGIN:
        raise CodeLoginDisabledError()
    after_response(partial(_login_code_send, email=email, actor=actor))


def _login_code_send(*, email: str, actor: Actor) -> None:
    user = _active_user_by_email(email)
    recipient = user or _stand_in(email)  # same work for an unknown address, short of sending
    code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
    timeout = int(settings.EMAIL_CODE_TIMEOUT)
    # The expiry is stored too: the cache TTL bounds storage, the timestamp makes it exact.
    entry = {
        "user_id": recipient.pk,
        "hash": _code_hash(recipient.pk or 0, code),
        "expires": time.time() + timeout,
    }
    context = {"user": recipient, "code": code, "expires_minutes": max(1, timeout // 60)}
    if user is None:
        email_render(kind="login_code", context=context)
    else:
        # A new code replaces the previous one and gets a fresh attempt budget.
        key = _code_key(user.email)
        cache.set(key, entry, timeout=timeout)
        cache.set(f"{key}:attempts", 0, timeout=timeout)
        email_send(to=user.email, kind="login_code", context=context)
    audit_log(action="login_code_requested", target=user, known=user is not None, actor=actor)


def _count_attempt(key: str) -> int:
    cache.add(f"{key}:attempts", 0, timeout=int(settings.EMAIL_CODE_TIMEOUT))
    try:
        return cache.incr(f"{key}:attempts")
    except ValueError:  # expired in between: the code is gone as well
        return int(settings.EMAIL_CODE_MAX_ATTEMPTS) + 1


def login_code_verify(*, email: str, code: str, actor: Actor) -> LoginOutcome:
    """Exchange a mailed code for a session (or the MFA challenge, exactly like a password)."""
    if not settings.EMAIL_CODE_LOGIN:
        raise CodeLoginDisabledError()
    email = email.strip().lower()
    with credential_attempt(account=email, ip=actor.ip) as attempt:
        key = _code_key(email)
        entry = cache.get(key)
        if entry is not None and entry.get("expires", 0) <= time.time():
            cache.delete(key)
            entry = None
        attempts = _count_attempt(key) if entry else 0
        max_attempts = int(settings.EMAIL_CODE_MAX_ATTEMPTS)
        valid = (
            entry is not None
            and attempts <= max_attempts
            and hmac.compare_digest(entry["hash"], _code_hash(entry["user_id"], code.strip()))
        )
        if not valid:
            if entry is not None and attempts >= max_attempts:
                cache.delete(key)  # the code is spent: a new one must be requested
            locked = attempt.fail()
            audit_log(action="login_failed", reason="bad_code", locked_out=locked, actor=actor)
            raise InvalidLoginCodeError()
    # Single use: only the request that actually deletes the entry may log in.
    if not cache.delete(key):
        raise InvalidLoginCodeError()
    cache.delete(f"{key}:attempts")
    user = User.objects.filter(pk=entry["user_id"], is_active=True).first()
    if user is None:
        raise InvalidLoginCodeError()
    if not user.is_verified:
        # Receiving the code proved the mailbox is theirs.
        user.is_verified = True
        user.save(update_fields=["is_verified"])
    return login_outcome_for(user=user, method="email_code", actor=actor)
