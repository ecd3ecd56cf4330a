"""Bearer-token authentication shared by REST and the WebSocket consumer."""

from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User

TOKEN_VERSION_CLAIM = "ver"


class AccessTokenAuthentication(JWTAuthentication):
    """simplejwt access tokens, plus the checks that make revocation immediate.

    A token is refused when its user is inactive (suspended) or when its ``ver`` claim is older
    than the user's ``token_version`` (logout-all, password change, suspension).
    """

    www_authenticate_realm = "api"

    def get_user(self, validated_token: Any) -> User:
        user = super().get_user(validated_token)
        check_token_user(user, validated_token)
        return user


def check_token_user(user: User, token: Any) -> None:
    """Raise ``AuthenticationFailed`` unless ``token`` is still valid for ``user``."""
    if not user.is_active:
        raise AuthenticationFailed("User is inactive.", code="user_inactive")
    if token.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
        raise AuthenticationFailed("Token has been revoked.", code="token_revoked")


def user_from_access_token(raw_token: str) -> User:
    """Validate a raw access token (WebSocket auth) and return its user, or raise."""
    try:
        token = AccessToken(raw_token)
    except Exception as exc:  # simplejwt raises TokenError subclasses
        raise InvalidToken("Token is invalid or expired.") from exc
    return AccessTokenAuthentication().get_user(token)
