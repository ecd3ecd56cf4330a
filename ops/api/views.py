"""The admin API of operations: rate limits (list, unblock), platform stats, feature flags.

Thin views over ``accounts.throttles``, ``ops.selectors`` and ``ops.flags``.
"""

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.blocked import throttle_index_entries
from accounts.permissions import IsAdminRole
from accounts.selectors import user_get
from accounts.throttles import rate_limit_unblock
from core.actor import actor_from_request
from ops.flags import FLAG_DEFAULTS, feature_flag_list, feature_flag_set
from ops.selectors import admin_stats

_ADMIN_ERRORS = {
    401: OpenApiResponse(description="Not authenticated (error envelope)."),
    403: OpenApiResponse(description="Not an admin (error envelope)."),
}

# --- Serializers (responses) ---------------------------------------------------------------


class RateLimitEntrySerializer(serializers.Serializer):
    scope = serializers.CharField()
    ident = serializers.CharField(help_text="User id, client IP or an account digest.")
    count = serializers.IntegerField(help_text="Requests counted in the current window.")
    until = serializers.FloatField(help_text="Unix time when the window passes at the latest.")


class RateLimitListSerializer(serializers.Serializer):
    results = RateLimitEntrySerializer(many=True)


class UnblockSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, required=False)
    ip = serializers.IPAddressField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("user_id") and not attrs.get("ip"):
            raise serializers.ValidationError({"user_id": ["Give user_id or ip."]})
        return attrs


class UnblockResultSerializer(serializers.Serializer):
    cleared = serializers.IntegerField()


class FeatureFlagSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    default = serializers.BooleanField()
    description = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.EmailField(allow_null=True)


@extend_schema_field({"type": "string", "enum": sorted(FLAG_DEFAULTS)})
class FeatureFlagNameField(serializers.CharField):
    """A flag name; documented as the known flags, validated by the service
    (``feature_flag_name_validate``), so the API and the console refuse the same names."""


class FeatureFlagSetSerializer(serializers.Serializer):
    name = FeatureFlagNameField(max_length=64)
    enabled = serializers.BooleanField()


class StatsSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    users = serializers.DictField(help_text="total, active, suspended, verified, by_role")
    active_users = serializers.DictField(child=serializers.IntegerField())
    sessions = serializers.DictField(child=serializers.IntegerField())
    messages = serializers.DictField(child=serializers.IntegerField())
    documents = serializers.DictField()
    tokens = serializers.DictField()
    top_users = serializers.ListField(child=serializers.DictField())


# --- Views ---------------------------------------------------------------------------------


class AdminRateLimitListView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="Users and IPs currently refused by a rate limit",
        responses={200: RateLimitListSerializer, **_ADMIN_ERRORS},
    )
    def get(self, request: Request) -> Response:
        entries = throttle_index_entries()
        return Response(RateLimitListSerializer({"results": entries}).data)


class AdminRateLimitUnblockView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="Lift the rate limits (and login lock-out) of a user or an IP",
        request=UnblockSerializer,
        responses={
            200: UnblockResultSerializer,
            404: OpenApiResponse(description="No such user."),
            **_ADMIN_ERRORS,
        },
        examples=[OpenApiExample("ip", value={"ip": "203.0.113.7"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = UnblockSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id = serializer.validated_data.get("user_id")
        ip = serializer.validated_data.get("ip")
        actor = actor_from_request(request)
        target = user_get(actor=actor, user_id=user_id) if user_id else None
        cleared = rate_limit_unblock(actor=actor, user=target, ip=ip)
        return Response({"cleared": cleared})


class AdminStatsView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="Users, activity, sessions, messages, documents and tokens",
        responses={200: StatsSerializer, **_ADMIN_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(StatsSerializer(admin_stats()).data)


class AdminFeatureFlagView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="Feature flags",
        responses={200: FeatureFlagSerializer(many=True), **_ADMIN_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(FeatureFlagSerializer(feature_flag_list(), many=True).data)

    @extend_schema(
        tags=["admin"],
        summary="Turn a feature flag on or off",
        request=FeatureFlagSetSerializer,
        responses={200: FeatureFlagSerializer, **_ADMIN_ERRORS},
        examples=[
            OpenApiExample(
                "close registration",
                value={"name": "registration_open", "enabled": False},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = FeatureFlagSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        feature_flag_set(
            name=name,
            enabled=serializer.validated_data["enabled"],
            actor=actor_from_request(request),
        )
        flag = next(f for f in feature_flag_list() if f["name"] == name)
        return Response(FeatureFlagSerializer(flag).data)
