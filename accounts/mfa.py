"""TOTP multi-factor authentication with single-use backup codes (django-otp devices).

* TOTP: django-otp ``TOTPDevice`` (30 s step, tolerance 1 step). Every check runs inside a
  transaction holding a row lock on the device, so ``last_t`` (the last accepted step) is read
  and written by one request at a time: a code is accepted once, even under parallel requests.
* Backup codes: django-otp ``StaticDevice``/``StaticToken``, but the token column holds a keyed
  hash (HMAC-SHA256 with the secret key, 64 bits kept) of the code, never the code itself. Codes
  are random (50 bits), so a fast keyed hash is enough; a slow password hash would cost ten
  Argon2 runs per attempt for no gain.
"""

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from accounts.authentication import (
    ENROLLMENT_SCOPE,
    SCOPE_CLAIM,
    token_still_valid,
)
from accounts.lockout import credential_attempt
from accounts.mfa_state import user_has_mfa
from accounts.models import User
from accounts.services import InvalidTokenError, user_login_complete
from accounts.stepup import user_password_confirm
from accounts.tokens import mfa_token_decode
from config.exceptions import ApplicationError, ConflictError
from core import policies
from core.actor import Actor
from ops.audit import audit_log

BACKUP_CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l look-alikes
BACKUP_CODE_LENGTH = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


class InvalidMfaCodeError(ApplicationError):
    status_code = 401
    default_code = "INVALID_MFA_CODE"
    default_detail = "The code is not valid (wrong, expired or already used)."


# --- Codes ----------------------------------------------------------------------------------


def _normalize_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def backup_code_hash(code: str) -> str:
    """What is stored for a backup code (fits StaticToken's 16 characters)."""
    digest = salted_hmac("accounts.mfa.backup_code", _normalize_code(code), algorithm="sha256")
    return digest.hexdigest()[:16]


def _new_backup_code() -> str:
    raw = "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def _backup_codes_replace(*, user: User) -> list[str]:
    """New backup codes for ``user``; the previous ones stop working. Returns them in clear."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
    )
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    codes = [_new_backup_code() for _ in range(int(settings.MFA_BACKUP_CODE_COUNT))]
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=backup_code_hash(code)) for code in codes]
    )
    return codes


def mfa_code_verify(*, user: User, code: str, allow_backup: bool = True) -> str | None:
    """Check a TOTP code or a backup code; consume it. Returns ``"totp"``, ``"backup"`` or None.

    The device row is locked for the check, so two requests with one code cannot both pass.
    """
    normalized = _normalize_code(code or "")
    if not normalized or len(normalized) > 32:
        return None
    with transaction.atomic():
        if normalized.isdigit() and len(normalized) == 6:
            device = (
                TOTPDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("pk")
                .first()
            )
            if device is not None and device.verify_token(normalized):
                return "totp"
            return None
        if not allow_backup:
            return None
        device = (
            StaticDevice.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("pk")
            .first()
        )
        if device is not None and device.verify_token(backup_code_hash(normalized)):
            return "backup"
    return None


def mfa_code_check(*, code: str, actor: Actor) -> str | None:
    """:func:`mfa_code_verify` under the login lock-out (account and IP), for signed-in users
    re-confirming with a code; a wrong code is audited."""
    with credential_attempt(account=actor.user.email, ip=actor.ip) as attempt:
        method = mfa_code_verify(user=actor.user, code=code)
        if method is not None:
            return method
        locked = attempt.fail()
    audit_log(action="mfa_code_failed", actor=actor, target=actor.user, locked_out=locked)
    return None


# --- Enrolment and management ---------------------------------------------------------------


def mfa_enable(*, password: str, actor: Actor) -> dict[str, str]:
    """Start enrolment (step-up: the current password): a new unconfirmed TOTP device;
    returns its secret, URL and QR code."""
    if user_has_mfa(user=actor.user):
        raise ConflictError("MFA is already enabled.", code="MFA_ALREADY_ENABLED")
    # Without this a stolen access token could enrol the thief's authenticator.
    user_password_confirm(password=password, purpose="mfa_enable", actor=actor)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=actor.user, confirmed=False).delete()
        device = TOTPDevice.objects.create(
            user=actor.user, name=TOTP_DEVICE_NAME, confirmed=False, step=30, tolerance=1, digits=6
        )
    url = device.config_url
    audit_log(action="mfa_enrollment_started", actor=actor, target=actor.user)
    return {
        "secret": base64.b32encode(device.bin_key).decode(),
        "otpauth_url": url,
        "qr_svg": segno.make(url, error="m").svg_inline(scale=4),
    }


def mfa_confirm(*, code: str, password: str, actor: Actor) -> list[str]:
    """Activate the pending TOTP device with a first code and the current password (step-up);
    returns the backup codes once."""
    user_password_confirm(password=password, purpose="mfa_confirm", actor=actor)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor.user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            if user_has_mfa(user=actor.user):
                raise ConflictError("MFA is already enabled.", code="MFA_ALREADY_ENABLED")
            raise ConflictError("Start with auth/mfa/enable.", code="MFA_NOT_PENDING")
        normalized = _normalize_code(code or "")
        if not (normalized.isdigit() and len(normalized) == 6 and device.verify_token(normalized)):
            raise InvalidMfaCodeError()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor.user).exclude(pk=device.pk).delete()
        codes = _backup_codes_replace(user=actor.user)
    audit_log(action="mfa_enabled", actor=actor, target=actor.user)
    return codes


@dataclass(frozen=True)
class MfaEnrollment:
    """A finished enrolment: the backup codes (shown once) and, when the enrolment was the
    one a login forced, the session that login now gets."""

    backup_codes: list[str]
    tokens: dict[str, Any] | None = None


def mfa_enrollment_finish(
    *, code: str, password: str, access_token: Any, actor: Actor
) -> MfaEnrollment:
    """:func:`mfa_confirm`, then: a caller holding only the enrolment token (a login whose role
    requires MFA) has now passed it, so the login completes with a full token pair."""
    codes = mfa_confirm(code=code, password=password, actor=actor)
    tokens = None
    if access_token is not None and access_token.get(SCOPE_CLAIM) == ENROLLMENT_SCOPE:
        tokens = user_login_complete(user=actor.user, method="mfa_enrollment", actor=actor)
    return MfaEnrollment(backup_codes=codes, tokens=tokens)


def _devices_delete(*, user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def mfa_disable(*, code: str, password: str, actor: Actor) -> None:
    """Turn MFA off: needs the password and a current code (or a backup code)."""
    if not user_has_mfa(user=actor.user):
        raise ConflictError("MFA is not enabled.", code="MFA_NOT_ENABLED")
    if policies.requires_mfa(actor):
        raise ApplicationError(
            "Your role requires multi-factor authentication.",
            code="MFA_REQUIRED",
            status_code=403,
        )
    user_password_confirm(password=password, purpose="mfa_disable", actor=actor)
    if mfa_code_check(code=code, actor=actor) is None:
        raise InvalidMfaCodeError()
    _devices_delete(user=actor.user)
    audit_log(action="mfa_disabled", actor=actor, target=actor.user)


def mfa_backup_codes_regenerate(*, code: str, password: str, actor: Actor) -> list[str]:
    """Ten new backup codes for a user with MFA on (a current code and the password); the old
    ones stop working."""
    if not user_has_mfa(user=actor.user):
        raise ConflictError("MFA is not enabled.", code="MFA_NOT_ENABLED")
    user_password_confirm(password=password, purpose="mfa_backup_codes", actor=actor)
    if mfa_code_check(code=code, actor=actor) is None:
        raise InvalidMfaCodeError()
    with transaction.atomic():
        codes = _backup_codes_replace(user=actor.user)
    audit_log(action="mfa_backup_codes_regenerated", actor=actor, target=actor.user)
    return codes


def mfa_reset(*, actor: Actor, user: User) -> None:
    """Admin: remove a user's MFA devices (lost phone); they log in with the password again."""
    _devices_delete(user=user)
    audit_log(action="mfa_reset", actor=actor, target=user)


# --- Second login step ----------------------------------------------------------------------


def auth_mfa_verify(*, mfa_token: str, code: str, actor: Actor) -> tuple[User, dict]:
    """Exchange an ``mfa_token`` and a TOTP/backup code for a token pair (single use)."""
    from django.core.cache import cache

    try:
        token = mfa_token_decode(mfa_token)
    except TokenError as exc:
        raise InvalidTokenError("The MFA token is invalid or expired. Log in again.") from exc
    user = User.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is None or not token_still_valid(token, user):
        raise InvalidTokenError("The MFA token is invalid or expired. Log in again.")
    used_key = f"mfa-token-used:{token.get(jwt_settings.JTI_CLAIM)}"
    if cache.get(used_key):
        raise InvalidTokenError("The MFA token was already used. Log in again.")
    with credential_attempt(account=user.email, ip=actor.ip) as attempt:
        method = mfa_code_verify(user=user, code=code)
        if method is None:
            locked = attempt.fail()
            audit_log(
                action="login_failed",
                target=user,
                reason="bad_mfa_code",
                locked_out=locked,
                actor=actor,
            )
            raise InvalidMfaCodeError()
    # add() is atomic: of two requests racing with one mfa_token only one gets a session.
    lifetime = int(settings.MFA_TOKEN_LIFETIME.total_seconds())
    if not cache.add(used_key, 1, timeout=lifetime + 60):
        raise InvalidTokenError("The MFA token was already used. Log in again.")
    if method == "backup":
        audit_log(action="mfa_backup_code_used", actor=actor.as_user(user), target=user)
    return user, user_login_complete(user=user, method=f"mfa_{method}", actor=actor)
