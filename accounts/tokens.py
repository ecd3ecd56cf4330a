"""Issuing JWT pairs that carry the claims our authentication checks."""

from typing import Any

from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_VERSION_CLAIM
from accounts.models import User


def refresh_token_for(*, user: User) -> RefreshToken:
    """A refresh token whose access tokens carry the role and the user's token version."""
    refresh = RefreshToken.for_user(user)
    refresh["role"] = user.role
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    return refresh


def issue_tokens(*, user: User) -> dict[str, Any]:
    """``{access, refresh, token_type}`` for ``user``."""
    refresh = refresh_token_for(user=user)
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "token_type": "bearer",
    }
