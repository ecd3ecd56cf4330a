"""Users endpoints (own profile, admin user management): thin doors over the services."""

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.refresh_cookie import RefreshCookieMixin
from accounts.api.serializers import (
    AdminUserUpdateSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    TokenPairSerializer,
    UserListQuerySerializer,
    UserSerializer,
)
from accounts.api.views.common import ERROR, USERS_TAG, user_data
from accounts.permissions import IsAdminRole
from accounts.selectors import USER_ORDERINGS
from accounts.throttles import MFA_THROTTLES
from config.pagination import DefaultPagination


class MeView(APIView):
    """The caller's profile; role, active/verified flags and email are read-only here."""

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, data=serializer.validated_data)
        return Response(user_data(user))

    @extend_schema(tags=USERS_TAG, responses={200: UserSerializer, 401: ERROR})
    def get(self, request: Request) -> Response:
        return Response(user_data(request.user))

    @extend_schema(
        tags=USERS_TAG,
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer, 400: ERROR, 401: ERROR},
    )
    def put(self, request: Request) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        tags=USERS_TAG,
        request=ProfileUpdateSerializer(partial=True),
        responses={200: UserSerializer, 400: ERROR, 401: ERROR},
    )
    def patch(self, request: Request) -> Response:
        return self._update(request, partial=True)


class PasswordChangeView(RefreshCookieMixin, APIView):
    """Change the password; every other session ends, this one gets a fresh token pair."""

    throttle_classes = MFA_THROTTLES

    @extend_schema(
        tags=USERS_TAG,
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tokens = services.user_password_change(
            user=request.user, request=request, **serializer.validated_data
        )
        return Response(tokens)


class UserListView(ListAPIView):
    """Admin: every user, paginated and filterable."""

    permission_classes = [IsAuthenticated, IsAdminRole]
    serializer_class = UserSerializer
    pagination_class = DefaultPagination

    def get_queryset(self) -> Any:
        query = UserListQuerySerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        return selectors.user_list(actor=self.request.user, **query.validated_data)

    @extend_schema(
        tags=USERS_TAG,
        parameters=[
            OpenApiParameter("search", str, description="email, username or full name contains"),
            OpenApiParameter("role", str, enum=["admin", "user", "viewer"]),
            OpenApiParameter("is_active", bool),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(USER_ORDERINGS),
                description="created_at, email, username, full_name, last_login, role; "
                "prefix - for descending",
            ),
        ],
        responses={200: UserSerializer(many=True), 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class UserDetailView(APIView):
    """Admin: one user, including role and active flag."""

    permission_classes = [IsAuthenticated, IsAdminRole]

    def _update(self, request: Request, user_id: int, *, partial: bool) -> Response:
        user = selectors.user_get(actor=request.user, user_id=user_id)
        serializer = AdminUserUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        current_password = data.pop("current_password", None)
        services.user_update(
            actor=request.user,
            user=user,
            data=data,
            current_password=current_password,
            request=request,
        )
        return Response(
            UserSerializer(selectors.user_get(actor=request.user, user_id=user.pk)).data
        )

    @extend_schema(tags=USERS_TAG, responses={200: UserSerializer, 403: ERROR, 404: ERROR})
    def get(self, request: Request, user_id: int) -> Response:
        return Response(
            UserSerializer(selectors.user_get(actor=request.user, user_id=user_id)).data
        )

    @extend_schema(
        tags=USERS_TAG,
        request=AdminUserUpdateSerializer,
        responses={200: UserSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 429: ERROR},
    )
    def put(self, request: Request, user_id: int) -> Response:
        return self._update(request, user_id, partial=False)

    @extend_schema(
        tags=USERS_TAG,
        request=AdminUserUpdateSerializer(partial=True),
        responses={200: UserSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 429: ERROR},
    )
    def patch(self, request: Request, user_id: int) -> Response:
        return self._update(request, user_id, partial=True)


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=services.MAX_DEACTIVATION_REASON_CHARS,
        required=False,
        allow_blank=True,
        help_text="Why the account is deactivated (shown to admins, kept in the audit trail).",
    )


class UserSuspendView(APIView):
    """Admin: suspend a user; every session of theirs ends at once."""

    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=USERS_TAG,
        request=SuspendSerializer,
        responses={200: UserSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get(actor=request.user, user_id=user_id)
        serializer = SuspendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_suspend(
            actor=request.user,
            user=user,
            reason=serializer.validated_data.get("reason", ""),
            request=request,
        )
        return Response(UserSerializer(user).data)


class UserReactivateView(APIView):
    """Admin: let a suspended user log in again."""

    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=USERS_TAG, request=None, responses={200: UserSerializer, 403: ERROR, 404: ERROR}
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get(actor=request.user, user_id=user_id)
        services.user_reactivate(actor=request.user, user=user, request=request)
        return Response(UserSerializer(user).data)
