"""Issuing JWTs that carry the claims our authentication checks.

* access/refresh pairs (``issue_tokens``) with the role and the user's token version;
* ``mfa_token``: proof that the password was right, good only for ``auth/mfa/verify`` and
  for 5 minutes; its own ``token_type`` makes every access-token check refuse it;
* enrollment token: an access token with ``scope=mfa_enrollment`` for users whose role must
  enrol in MFA first; the authentication class accepts it only on the enrolment endpoints.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from accounts.authentication import (
    ENROLLMENT_SCOPE,
    SCOPE_CLAIM,
    TOKEN_VERSION_CLAIM,
)
from accounts.models import User


class MfaToken(Token):
    """Short-lived, single-purpose: exchange it plus a TOTP/backup code for a token pair."""

    token_type = "mfa"
    lifetime = timedelta(minutes=5)

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        self.lifetime = settings.MFA_TOKEN_LIFETIME
        super().__init__(token, verify=verify)


class EnrollmentToken(AccessToken):
    """An access token limited to MFA enrolment (``MFA_REQUIRED_ROLES``)."""

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        self.lifetime = settings.MFA_ENROLLMENT_TOKEN_LIFETIME
        super().__init__(token, verify=verify)


def _user_claims(token: Token, user: User) -> None:
    token[api_settings.USER_ID_CLAIM] = getattr(user, api_settings.USER_ID_FIELD)
    token["role"] = user.role
    token[TOKEN_VERSION_CLAIM] = user.token_version


def refresh_token_for(*, user: User) -> RefreshToken:
    """A refresh token whose access tokens carry the role and the user's token version."""
    refresh = RefreshToken.for_user(user)
    refresh["role"] = user.role
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    return refresh


def issue_tokens(*, user: User) -> dict[str, Any]:
    """``{access, refresh, token_type}`` for ``user``, plus the aliases ``access_token`` and
    ``refresh_token`` that OAuth2-style (seed) clients read."""
    refresh = refresh_token_for(user=user)
    access, refresh_raw = str(refresh.access_token), str(refresh)
    return {
        "access": access,
        "refresh": refresh_raw,
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh_raw,
    }


def mfa_token_for(*, user: User) -> str:
    """The ``mfa_token`` handed out after a correct password when MFA is on."""
    token = MfaToken()
    _user_claims(token, user)
    return str(token)


def mfa_token_decode(raw: str) -> MfaToken:
    """Validate signature, expiry and type; raise ``TokenError`` otherwise."""
    return MfaToken(raw)


def mfa_token_user_id(raw: str) -> int | None:
    """The user id inside a valid ``mfa_token`` (for throttle keys), or None."""
    try:
        return int(mfa_token_decode(raw)[api_settings.USER_ID_CLAIM])
    except (TokenError, KeyError, TypeError, ValueError):
        return None


def enrollment_token_for(*, user: User) -> str:
    """An access token that only the MFA enrolment endpoints accept."""
    token = EnrollmentToken()
    _user_claims(token, user)
    token[SCOPE_CLAIM] = ENROLLMENT_SCOPE
    return str(token)
