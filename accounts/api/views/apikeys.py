"""The caller's personal API keys: ``/api/v1/users/me/api-keys``."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import apikeys
from accounts.api.lifecycle_serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
)
from accounts.api.views.common import ERROR, USERS_TAG
from accounts.models import ApiKey
from core.actor import actor_from_request


class ApiKeyListCreateView(ListAPIView):
    """List the caller's keys (never the secret) or create one (the current password is asked
    again; the secret is shown once)."""

    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return apikeys.api_key_list(actor=actor_from_request(self.request))

    @extend_schema(tags=USERS_TAG, responses={200: ApiKeySerializer(many=True), 401: ERROR})
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=USERS_TAG,
        request=ApiKeyCreateSerializer,
        responses={
            201: ApiKeyCreatedSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            429: ERROR,
        },
        examples=[
            OpenApiExample(
                "Chat-only key for a script",
                value={
                    "name": "nightly report",
                    "scopes": ["chat"],
                    "expires_at": None,
                    "password": "your current password",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = apikeys.api_key_create(
            **serializer.validated_data, actor=actor_from_request(request)
        )
        data = {**ApiKeySerializer(key).data, "key": raw}
        return Response(data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    """Revoke one of the caller's keys (it stops working at once)."""

    @extend_schema(tags=USERS_TAG, responses={200: ApiKeySerializer, 401: ERROR, 404: ERROR})
    def get(self, request: Request, key_id: int) -> Response:
        key = apikeys.api_key_get(actor=actor_from_request(request), key_id=key_id)
        return Response(ApiKeySerializer(key).data)

    @extend_schema(tags=USERS_TAG, responses={204: None, 401: ERROR, 404: ERROR})
    def delete(self, request: Request, key_id: int) -> Response:
        key: ApiKey = apikeys.api_key_get(actor=actor_from_request(request), key_id=key_id)
        apikeys.api_key_revoke(key=key, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
