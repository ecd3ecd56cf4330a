"""Usage for everyone, and the admin API of usage and quotas.

Thin views over ``metering.selectors`` and ``metering.quotas``.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from accounts.selectors import user_get
from core.actor import actor_from_request
from metering.quotas import quota_override_get, quota_override_set
from metering.selectors import MAX_USAGE_DAYS, usage_for_admin, usage_summary

_ADMIN_ERRORS = {
    401: OpenApiResponse(description="Not authenticated (error envelope)."),
    403: OpenApiResponse(description="Not an admin (error envelope)."),
}

# --- Serializers (responses) ---------------------------------------------------------------


class UsageRowSerializer(serializers.Serializer):
    model = serializers.CharField(required=False)
    kind = serializers.CharField(required=False)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()


class UsageWindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()
    by_model = UsageRowSerializer(many=True)
    by_kind = UsageRowSerializer(many=True)


class UsageQuotaSerializer(serializers.Serializer):
    daily_tokens = serializers.IntegerField()
    daily_used = serializers.IntegerField()
    daily_reserved = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="Daily tokens left.")
    resets_at = serializers.DateTimeField(help_text="When the daily budget resets (UTC).")
    monthly_tokens = serializers.IntegerField()
    monthly_used = serializers.IntegerField()
    monthly_remaining = serializers.IntegerField()
    monthly_resets_at = serializers.DateTimeField()
    max_concurrent = serializers.IntegerField()
    running = serializers.IntegerField(help_text="Answers being generated now.")


class BudgetWindowSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="Null: no limit.")
    used = serializers.IntegerField()
    reserved = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True, help_text="Null: no limit.")
    resets_at = serializers.DateTimeField()


class BudgetSerializer(serializers.Serializer):
    daily = BudgetWindowSerializer()
    monthly = BudgetWindowSerializer()


class OrganizationQuotaStatusSerializer(serializers.Serializer):
    organization_id = serializers.UUIDField()
    organization = BudgetSerializer(help_text="The organization's budget (all members).")
    member = BudgetSerializer(required=False, help_text="The caller's limit as a member.")


class UsageSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    organization_id = serializers.UUIDField(
        allow_null=True, help_text="The organization the usage is counted in."
    )
    today = UsageWindowSerializer(help_text="Since 00:00 UTC.")
    last_24h = UsageWindowSerializer()
    last_7d = UsageWindowSerializer()
    quota = UsageQuotaSerializer(help_text="The user's own limits (in every organization).")
    organization_quota = OrganizationQuotaStatusSerializer(allow_null=True)


class QuotaWindowSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    reserved = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class QuotaStatusSerializer(serializers.Serializer):
    daily = QuotaWindowSerializer()
    monthly = QuotaWindowSerializer()
    max_concurrent = serializers.IntegerField()
    running = serializers.IntegerField()


class DailyUsageSerializer(UsageRowSerializer):
    day = serializers.DateField()


class AdminUsageSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    email = serializers.EmailField()
    days = serializers.IntegerField()
    window = UsageWindowSerializer()
    daily = DailyUsageSerializer(many=True)
    quota = QuotaStatusSerializer()


class AdminUsageQuerySerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1)
    days = serializers.IntegerField(min_value=1, max_value=MAX_USAGE_DAYS, default=7)


class QuotaLimitsSerializer(serializers.Serializer):
    daily_tokens = serializers.IntegerField()
    monthly_tokens = serializers.IntegerField()
    max_concurrent = serializers.IntegerField()


class QuotaSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(read_only=True)
    role = serializers.CharField(read_only=True)
    daily_tokens = serializers.IntegerField(
        min_value=0, max_value=10**12, allow_null=True, required=False
    )
    monthly_tokens = serializers.IntegerField(
        min_value=0, max_value=10**13, allow_null=True, required=False
    )
    max_concurrent = serializers.IntegerField(
        min_value=0, max_value=1000, allow_null=True, required=False
    )
    effective = QuotaLimitsSerializer(read_only=True)


# --- Views ---------------------------------------------------------------------------------


class UsageView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["usage"],
        summary="Own token usage in the current organization (today, 24 h, 7 d) and the quota left",
        responses={200: UsageSerializer, 401: _ADMIN_ERRORS[401]},
    )
    def get(self, request: Request) -> Response:
        return Response(UsageSerializer(usage_summary(actor=actor_from_request(request))).data)


class AdminUsageView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="A user's token usage over the last N days",
        parameters=[
            OpenApiParameter("user", int, required=True, description="User id."),
            OpenApiParameter("days", int, description=f"1..{MAX_USAGE_DAYS} (default 7)."),
        ],
        responses={
            200: AdminUsageSerializer,
            404: OpenApiResponse(description="No such user."),
            **_ADMIN_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = AdminUsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = user_get(actor=actor_from_request(request), user_id=query.validated_data["user"])
        data = usage_for_admin(user=user, days=query.validated_data["days"])
        return Response(AdminUsageSerializer(data).data)


class AdminQuotaView(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=["admin"],
        summary="A user's quota override and effective limits",
        responses={200: QuotaSerializer, **_ADMIN_ERRORS},
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = user_get(actor=actor_from_request(request), user_id=user_id)
        return Response(QuotaSerializer(quota_override_get(user=user)).data)

    @extend_schema(
        tags=["admin"],
        summary="Set a user's quota override (null = the role's default)",
        request=QuotaSerializer,
        responses={200: QuotaSerializer, **_ADMIN_ERRORS},
        examples=[
            OpenApiExample(
                "override",
                value={"daily_tokens": 50000, "monthly_tokens": None, "max_concurrent": 1},
                request_only=True,
            )
        ],
    )
    def put(self, request: Request, user_id: int) -> Response:
        user = user_get(actor=actor_from_request(request), user_id=user_id)
        serializer = QuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = quota_override_set(
            user=user, actor=actor_from_request(request), data=serializer.validated_data
        )
        return Response(QuotaSerializer(data).data)
