"""Input and output shapes of the auth and users API."""

import json
from typing import Any

from django.conf import settings
from rest_framework import serializers

from accounts.mfa_state import user_has_mfa
from accounts.models import Role, User
from accounts.selectors import USER_ORDERINGS
from accounts.services import MAX_PREFERENCES_BYTES

CODE_MAX_LENGTH = 32
TOKEN_MAX_LENGTH = 4096


def _password_field(**kwargs: Any) -> serializers.CharField:
    # Length is enforced by the password validators (with a clear message); this only bounds
    # the body a request can push into the hasher.
    return serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=max(int(settings.PASSWORD_MAX_LENGTH), 1) * 2,
        style={"input_type": "password"},
        **kwargs,
    )


class UserSerializer(serializers.ModelSerializer):
    """A user as the user sees themself: never a password hash, OTP secret or backup code."""

    mfa_enabled = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "full_name",
            "role",
            "is_active",
            "deactivation_reason",
            "is_verified",
            "mfa_enabled",
            "preferences",
            "created_at",
            "last_login",
        ]
        read_only_fields = fields

    def get_mfa_enabled(self, user: User) -> bool:
        return user_has_mfa(user=user)


def _validate_preferences(value: Any) -> dict:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Preferences must be a JSON object.")
    if len(json.dumps(value)) > MAX_PREFERENCES_BYTES:
        raise serializers.ValidationError(
            f"Preferences may take at most {MAX_PREFERENCES_BYTES} bytes."
        )
    return value


class ProfileUpdateSerializer(serializers.Serializer):
    """What a user may change about themself. Anything else sent is ignored."""

    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150, min_length=1)
    full_name = serializers.CharField(max_length=200, allow_blank=True)
    preferences = serializers.JSONField()

    def validate_preferences(self, value: Any) -> dict:
        return _validate_preferences(value)


class AdminUserUpdateSerializer(ProfileUpdateSerializer):
    """What an admin may change about any user."""

    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)
    is_active = serializers.BooleanField()
    is_verified = serializers.BooleanField()
    current_password = _password_field(
        required=False, help_text="The acting admin's password; required to change `email`."
    )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150, min_length=1)
    full_name = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    password = _password_field()


class LoginSerializer(serializers.Serializer):
    """JSON ``{email, password}`` or the OAuth2 password form (``username``, ``password``)."""

    email = serializers.CharField(max_length=254, required=False)
    username = serializers.CharField(max_length=254, required=False)
    password = _password_field()
    grant_type = serializers.CharField(max_length=32, required=False, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        identifier = (attrs.get("email") or attrs.get("username") or "").strip()
        if not identifier:
            raise serializers.ValidationError({"email": ["This field is required."]})
        if attrs.get("grant_type") not in (None, "", "password"):
            raise serializers.ValidationError({"grant_type": ['Only "password" is supported.']})
        attrs["identifier"] = identifier
        return attrs


class LoginJsonSerializer(serializers.Serializer):
    """The JSON login body as documented (``LoginSerializer`` validates both forms)."""

    email = serializers.CharField(max_length=254)
    password = _password_field()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    access_token = serializers.CharField(help_text="Alias of `access` (OAuth2-style clients).")
    refresh_token = serializers.CharField(help_text="Alias of `refresh`.")


class LoginResponseSerializer(TokenPairSerializer):
    user = UserSerializer()


class MfaChallengeSerializer(serializers.Serializer):
    mfa_required = serializers.BooleanField(default=True)
    mfa_token = serializers.CharField(help_text="Valid 5 minutes, only for auth/mfa/verify.")


class MfaEnrollmentRequiredSerializer(serializers.Serializer):
    mfa_enrollment_required = serializers.BooleanField(default=True)
    enrollment_token = serializers.CharField(
        help_text="Bearer token accepted only by auth/mfa/enable and auth/mfa/confirm."
    )
    token_type = serializers.CharField(default="bearer")
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(
        max_length=TOKEN_MAX_LENGTH, help_text="The refresh token (alias: `refresh_token`)."
    )

    def to_internal_value(self, data: Any) -> Any:
        # Seed 000/003 clients post ``refresh_token``: the same field under another name.
        if hasattr(data, "get") and data.get("refresh") is None and "refresh_token" in data:
            data = {"refresh": data.get("refresh_token")}
        return super().to_internal_value(data)


class MfaVerifySerializer(serializers.Serializer):
    mfa_token = serializers.CharField(max_length=TOKEN_MAX_LENGTH)
    code = serializers.CharField(max_length=CODE_MAX_LENGTH)


class MfaCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=CODE_MAX_LENGTH)


class StepUpPasswordSerializer(serializers.Serializer):
    """The caller's current password, asked again before a sensitive change."""

    password = _password_field(help_text="Your current password.")


class MfaCodePasswordSerializer(MfaCodeSerializer, StepUpPasswordSerializer):
    """A TOTP (or backup) code and the current password."""


class MfaSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32 TOTP secret, for manual entry.")
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URL as an inline SVG QR code.")


class BackupCodesSerializer(serializers.Serializer):
    backup_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Shown once; each works once."
    )


class MfaConfirmResponseSerializer(BackupCodesSerializer):
    tokens = TokenPairSerializer(
        required=False, help_text="A full session, when enrolment was forced at login."
    )


class PasswordChangeSerializer(serializers.Serializer):
    current_password = _password_field()
    new_password = _password_field()


class UserListQuerySerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=USER_ORDERINGS, required=False)
