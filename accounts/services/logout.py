"""Refresh and logout: rotating a refresh token, ending one session or all of them."""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.apikeys import api_keys_revoke_all
from accounts.authentication import token_still_valid
from accounts.models import RevokedAccessToken, User
from accounts.services.errors import InvalidTokenError
from accounts.sessions import user_sessions_revoke
from accounts.tokens import issue_tokens
from core.actor import Actor
from ops.audit import audit_log


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
