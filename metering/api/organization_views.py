"""The current organization's usage and quotas, for its owners and admins.

Mounted under ``/api/v1/organizations/current/`` (``metering.api.organization_urls``); thin
views over ``metering.selectors`` and ``metering.quotas``, which check the role.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_from_request
from metering.api.views import (
    DailyUsageSerializer,
    OrganizationQuotaStatusSerializer,
    UsageRowSerializer,
    UsageWindowSerializer,
)
from metering.quotas import organization_quota_get, organization_quota_set
from metering.selectors import MAX_USAGE_DAYS, organization_usage

_ERRORS = {
    401: OpenApiResponse(description="Not authenticated (error envelope)."),
    403: OpenApiResponse(
        description="Not an owner or admin of the organization, or the organization is "
        "suspended (error envelope)."
    ),
    404: OpenApiResponse(
        description="X-Tenant-ID names an organization you are not a member of "
        "(TENANT_NOT_FOUND envelope)."
    ),
}
_TOKENS = {"min_value": 0, "max_value": 10**13, "allow_null": True, "required": False}


class MemberUsageSerializer(UsageRowSerializer):
    user_id = serializers.IntegerField(allow_null=True, help_text="Null: a deleted account.")
    email = serializers.EmailField(allow_null=True)


class OrganizationUsageSerializer(serializers.Serializer):
    organization_id = serializers.UUIDField()
    days = serializers.IntegerField()
    window = UsageWindowSerializer(help_text="Totals, by model and by kind.")
    by_member = MemberUsageSerializer(many=True)
    daily = DailyUsageSerializer(many=True)
    quota = OrganizationQuotaStatusSerializer()


class OrganizationUsageQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_USAGE_DAYS, default=30)


class OrganizationQuotaSerializer(serializers.Serializer):
    organization_id = serializers.UUIDField(read_only=True)
    daily_tokens = serializers.IntegerField(
        **_TOKENS, help_text="The organization's tokens a UTC day (null: no limit)."
    )
    monthly_tokens = serializers.IntegerField(**_TOKENS)
    member_daily_tokens = serializers.IntegerField(
        **_TOKENS, help_text="Each member's tokens a day inside the organization."
    )
    member_monthly_tokens = serializers.IntegerField(**_TOKENS)
    training_monthly_tokens = serializers.IntegerField(
        **_TOKENS, help_text="Fine-tuning tokens a month."
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class OrganizationUsageView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["organizations"],
        summary="The organization's token usage by member and by model (owners, admins)",
        parameters=[
            OpenApiParameter("days", int, description=f"1..{MAX_USAGE_DAYS} (default 30)."),
        ],
        responses={
            200: OrganizationUsageSerializer,
            400: OpenApiResponse(description="Invalid ``days`` (error envelope)."),
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = OrganizationUsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = organization_usage(
            actor=actor_from_request(request), days=query.validated_data["days"]
        )
        return Response(OrganizationUsageSerializer(data).data)


class OrganizationQuotaView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["organizations"],
        summary="The organization's token budgets and member limits (owners, admins)",
        responses={200: OrganizationQuotaSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        data = organization_quota_get(actor=actor, organization=actor.organization)
        return Response(OrganizationQuotaSerializer(data).data)

    @extend_schema(
        tags=["organizations"],
        summary="Set the organization's token budgets and member limits (null = no limit)",
        request=OrganizationQuotaSerializer,
        responses={
            200: OrganizationQuotaSerializer,
            400: OpenApiResponse(description="Invalid limits (error envelope)."),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "budget",
                value={"daily_tokens": 500000, "member_daily_tokens": 50000},
                request_only=True,
            )
        ],
    )
    def put(self, request: Request) -> Response:
        actor = actor_from_request(request)
        serializer = OrganizationQuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = organization_quota_set(
            actor=actor, organization=actor.organization, data=serializer.validated_data
        )
        return Response(OrganizationQuotaSerializer(data).data)
