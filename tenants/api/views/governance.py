"""An organization's audit trail and feature flags (owners and admins)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import Actor
from ops.flags import feature_flag_name_validate
from tenants import selectors, services
from tenants.api.serializers import (
    AuditEventSerializer,
    OrganizationFlagSerializer,
    OrganizationFlagSetSerializer,
)
from tenants.api.views.common import ERROR, ORGANIZATION_PARAMETER, TAG, organization_actor

ACTION_PARAMETER = OpenApiParameter(
    "action",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Only this action (e.g. `organization.invite`), or a prefix ending in `.`.",
)
FLAG_PARAMETER = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Flag name.")


class AuditEventListView(GenericAPIView):
    """The organization's audit trail, newest first (owners and admins)."""

    serializer_class = AuditEventSerializer

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, ACTION_PARAMETER],
        responses={200: AuditEventSerializer(many=True), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        action = (request.query_params.get("action") or "").strip()[:64] or None
        page = self.paginate_queryset(selectors.audit_event_list(actor=actor, action=action))
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)


class OrganizationFlagListView(APIView):
    """Feature flags in this organization: its own value, the platform's, and the one in
    effect (owners and admins)."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        responses={200: OrganizationFlagSerializer(many=True), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        flags = selectors.organization_flag_list(actor=actor)
        return Response(OrganizationFlagSerializer(flags, many=True).data)


class OrganizationFlagDetailView(APIView):
    """Override a flag for this organization, or drop the override (the platform's value
    applies again)."""

    def _flag(self, actor: Actor, name: str) -> dict:
        return next(f for f in selectors.organization_flag_list(actor=actor) if f["name"] == name)

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, FLAG_PARAMETER],
        request=OrganizationFlagSetSerializer,
        responses={200: OrganizationFlagSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def put(self, request: Request, organization: str, name: str) -> Response:
        actor = organization_actor(request, organization)
        serializer = OrganizationFlagSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.organization_flag_set(
            actor=actor, name=name, enabled=serializer.validated_data["enabled"]
        )
        return Response(OrganizationFlagSerializer(self._flag(actor, name)).data)

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, FLAG_PARAMETER],
        responses={204: None, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def delete(self, request: Request, organization: str, name: str) -> Response:
        actor = organization_actor(request, organization)
        feature_flag_name_validate(name)
        services.organization_flag_delete(actor=actor, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
