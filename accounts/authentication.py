"""Bearer-token authentication shared by REST and the WebSocket consumer."""

from typing import Any

from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedAccessToken, User

TOKEN_VERSION_CLAIM = "ver"
SCOPE_CLAIM = "scope"
# Access tokens with this scope only reach views that set ``allow_enrollment_token = True``.
ENROLLMENT_SCOPE = "mfa_enrollment"


class AccessTokenAuthentication(JWTAuthentication):
    """simplejwt access tokens, plus the checks that make revocation immediate.

    A token is refused when its user is inactive (suspended), when its ``ver`` claim is older
    than the user's ``token_version`` (logout-all, password change, suspension), when its
    ``jti`` was revoked by a logout, and (enrolment-only tokens) outside the MFA enrolment
    endpoints. Refresh tokens and ``mfa_token``s fail simplejwt's ``token_type`` check.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if token.get(SCOPE_CLAIM) == ENROLLMENT_SCOPE:
            view = (getattr(request, "parser_context", None) or {}).get("view")
            if not getattr(view, "allow_enrollment_token", False):
                raise AuthenticationFailed(
                    "Enrol in multi-factor authentication first.",
                    code="mfa_enrollment_required",
                )
        return user, token

    def get_user(self, validated_token: Any) -> User:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        try:
            user_id = User._meta.pk.to_python(user_id)
        except ValidationError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        user = _user_with_revocation(user_id, validated_token.get(api_settings.JTI_CLAIM) or "")
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        check_token_user(user, validated_token)
        if user.token_revoked:
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        return user


# The token's user, whether a logout revoked this very token, and the user's MFA state (what
# ``users/me`` shows, so the profile needs no second fetch of the same row), in one statement.
# Only model metadata is interpolated; the values are parameters.
_USER_SQL = (
    f"SELECT u.*, EXISTS (SELECT 1 FROM {RevokedAccessToken._meta.db_table} r "  # noqa: S608
    f"WHERE r.jti = %s AND r.{RevokedAccessToken._meta.get_field('user').column} = u.id) "
    f"AS token_revoked, EXISTS (SELECT 1 FROM {TOTPDevice._meta.db_table} d "
    f"WHERE d.{TOTPDevice._meta.get_field('user').column} = u.id AND d.confirmed = %s) "
    f"AS mfa_enabled FROM {User._meta.db_table} u WHERE u.id = %s"
)


def _user_with_revocation(user_id: int, jti: str) -> User | None:
    """The token's user, its ``token_revoked`` saying whether a logout revoked this token and
    ``mfa_enabled`` whether it has a confirmed TOTP device (as ``users_with_mfa_state``).

    This runs for every authenticated request and before every WebSocket message, so it is
    plain SQL: compiling the equivalent ORM query costs more than running it.
    """
    user = next(iter(User.objects.raw(_USER_SQL, [jti, True, user_id])), None)
    if user is not None:
        # SQLite answers EXISTS with 0/1; the annotation is read as a bool (accounts.mfa).
        user.token_revoked = bool(user.token_revoked)
        user.mfa_enabled = bool(user.mfa_enabled)
    return user


def token_version_matches(token: Any, user: User) -> bool:
    """Whether ``token`` carries the user's current token version.

    The ``ver`` claim is required: every token we issue has it, so a token without it was not
    minted here (or predates versioning) and is refused rather than read as version 0.
    """
    version = token.get(TOKEN_VERSION_CLAIM)
    return type(version) is int and version == user.token_version


def check_token_user(user: User, token: Any) -> None:
    """Raise ``AuthenticationFailed`` unless ``token`` is still valid for ``user``."""
    if not user.is_active:
        raise AuthenticationFailed("User is inactive.", code="user_inactive")
    if not token_version_matches(token, user):
        raise AuthenticationFailed("Token has been revoked.", code="token_revoked")


def user_from_access_token(raw_token: str) -> User:
    """Validate a raw access token (WebSocket auth) and return its user, or raise."""
    try:
        token = AccessToken(raw_token)
    except Exception as exc:  # simplejwt raises TokenError subclasses
        raise InvalidToken("Token is invalid or expired.") from exc
    if token.get(SCOPE_CLAIM) == ENROLLMENT_SCOPE:
        raise AuthenticationFailed(
            "Enrol in multi-factor authentication first.", code="mfa_enrollment_required"
        )
    return AccessTokenAuthentication().get_user(token)
