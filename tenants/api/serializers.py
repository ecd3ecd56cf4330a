"""Input and output shapes of the organizations API."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ops.flags import FLAG_DEFAULTS
from tenants.models import Invitation, MemberRole, Membership, MembershipStatus


class OrganizationSerializer(serializers.Serializer):
    """An organization as one of its members sees it, with the member's own role."""

    id = serializers.UUIDField(source="organization.id")
    name = serializers.CharField(source="organization.name")
    slug = serializers.CharField(source="organization.slug")
    is_personal = serializers.BooleanField(source="organization.is_personal")
    status = serializers.CharField(source="organization.status")
    role = serializers.ChoiceField(choices=MemberRole.choices, help_text="Your role in it.")
    membership_status = serializers.CharField(
        source="status", help_text="`active`, or `suspended` (you cannot act in it)."
    )
    is_default = serializers.BooleanField(
        help_text="Requests without `X-Tenant-ID` act in this organization."
    )
    member_count = serializers.IntegerField(help_text="Active members.")
    max_members = serializers.IntegerField(source="organization.max_members", allow_null=True)
    created_at = serializers.DateTimeField(source="organization.created_at")


class OrganizationDetailSerializer(OrganizationSerializer):
    system_prompt = serializers.CharField(
        source="organization.system_prompt",
        help_text="Used as the system prompt of chats in this organization (empty: the "
        "platform's).",
    )
    allowed_models = serializers.ListField(
        source="organization.allowed_models",
        child=serializers.CharField(),
        help_text="Chat models members may use (empty: every model the platform allows).",
    )


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=64, required=False, help_text="Default: made from the name."
    )


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.SlugField(max_length=64, required=False)
    system_prompt = serializers.CharField(
        max_length=8000, required=False, allow_blank=True, trim_whitespace=False
    )
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=100, required=False
    )


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField()
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")

    class Meta:
        model = Membership
        fields = ["user_id", "email", "full_name", "role", "status", "created_at"]


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MemberRole.choices, required=False)
    status = serializers.ChoiceField(choices=MembershipStatus.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError({"role": ["Give role or status."]})
        return attrs


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=MemberRole.choices, default=MemberRole.MEMBER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=128, help_text="The `invitation` parameter of the link in the mail."
    )


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor_email = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_repr = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    request_id = serializers.CharField()
    details = serializers.DictField()


@extend_schema_field({"type": "string", "enum": sorted(FLAG_DEFAULTS)})
class FlagNameField(serializers.CharField):
    pass


class OrganizationFlagSerializer(serializers.Serializer):
    name = FlagNameField()
    description = serializers.CharField()
    enabled = serializers.BooleanField(help_text="The value in effect in this organization.")
    organization_value = serializers.BooleanField(
        allow_null=True, help_text="This organization's override (null: none)."
    )
    platform_value = serializers.BooleanField(
        help_text="The platform's value (its setting, else the default)."
    )
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.EmailField(allow_null=True)


class OrganizationFlagSetSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
