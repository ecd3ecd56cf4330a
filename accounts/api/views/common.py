"""Shared bits of the accounts views."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from accounts import selectors
from accounts.api.serializers import UserSerializer
from config.representation import Representer

AUTH_TAG = ["auth"]
USERS_TAG = ["users"]
ERROR = OpenApiResponse(description="Error envelope")


_user_representation = Representer(UserSerializer)


def user_data(user: Any) -> dict[str, Any]:
    """The user as the API shows it (MFA state annotated, no secrets)."""
    return _user_representation(selectors.user_me(user=user))
