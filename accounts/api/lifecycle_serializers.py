"""Input and output shapes of the account lifecycle endpoints and of API keys."""

from django.utils import timezone
from rest_framework import serializers

from accounts.api.serializers import TOKEN_MAX_LENGTH, _password_field
from accounts.models import ApiKey, ApiKeyScope


class EmailSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class AcceptedSerializer(serializers.Serializer):
    """The one answer of every mail-sending request (the same whether an account exists)."""

    detail = serializers.CharField()


class VerifyEmailSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=TOKEN_MAX_LENGTH)


class PasswordResetSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=TOKEN_MAX_LENGTH)
    new_password = _password_field()


class CodeVerifySerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    code = serializers.RegexField(
        r"^\s*\d{6}\s*\Z", max_length=16, error_messages={"invalid": "Enter the 6-digit code."}
    )


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as listed: never the secret, only its public prefix."""

    is_active = serializers.SerializerMethodField()
    organization = serializers.UUIDField(
        source="organization_id",
        read_only=True,
        help_text="The organization the key acts in (the X-Tenant-ID it implies).",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "organization",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_is_active(self, key: ApiKey) -> bool:
        return key.is_usable


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret. Shown only in this answer: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, min_length=1)
    password = _password_field(help_text="Your current password (step-up).")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices),
        required=False,
        max_length=len(ApiKeyScope.choices),
        help_text="Any of chat, documents, read. Default: all three.",
    )

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value


__all__ = [
    "AcceptedSerializer",
    "ApiKeyCreateSerializer",
    "ApiKeyCreatedSerializer",
    "ApiKeySerializer",
    "CodeVerifySerializer",
    "EmailSerializer",
    "PasswordResetSerializer",
    "VerifyEmailSerializer",
]
