"""Organizations: list mine, create, detail, update, delete, make one my default."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_from_request
from tenants import selectors, services
from tenants.api.serializers import (
    OrganizationCreateSerializer,
    OrganizationDetailSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
)
from tenants.api.views.common import ERROR, ORGANIZATION_PARAMETER, TAG, organization_actor


class OrganizationListCreateView(GenericAPIView):
    """The organizations you belong to, with your role in each; create one (you own it)."""

    serializer_class = OrganizationSerializer

    @extend_schema(tags=TAG, responses={200: OrganizationSerializer(many=True), 401: ERROR})
    def get(self, request: Request) -> Response:
        rows = selectors.membership_list_for_user(actor=actor_from_request(request))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(OrganizationSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        request=OrganizationCreateSerializer,
        responses={
            201: OrganizationDetailSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
        },
        examples=[OpenApiExample("team", value={"name": "Acme Research"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = OrganizationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        organization = services.organization_create(
            actor=actor, owner=request.user, **serializer.validated_data
        )
        membership = selectors.membership_list_for_user(actor=actor).get(organization=organization)
        return Response(
            OrganizationDetailSerializer(membership).data, status=status.HTTP_201_CREATED
        )


class OrganizationDetailView(APIView):
    """One organization you belong to; its owners and admins change its name, slug, system
    prompt and allowed models; an owner deletes it."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        responses={200: OrganizationDetailSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        return Response(
            OrganizationDetailSerializer(selectors.membership_current(actor=actor)).data
        )

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        request=OrganizationUpdateSerializer,
        responses={
            200: OrganizationDetailSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
        examples=[
            OpenApiExample(
                "settings",
                value={"system_prompt": "Answer as Acme's support team.", "allowed_models": []},
                request_only=True,
            )
        ],
    )
    def patch(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        serializer = OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.organization_update(actor=actor, **serializer.validated_data)
        return Response(
            OrganizationDetailSerializer(selectors.membership_current(actor=actor)).data
        )

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        responses={202: OrganizationSerializer, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def delete(self, request: Request, organization: str) -> Response:
        """Marks the organization `deleting` (it disappears for every member at once); its
        chats, documents and vectors are removed in the background."""
        actor = organization_actor(request, organization)
        membership = selectors.membership_current(actor=actor)
        # The organization as it was closed: the job may already have removed its rows.
        membership.organization = services.organization_delete_current(actor=actor)
        return Response(OrganizationSerializer(membership).data, status=status.HTTP_202_ACCEPTED)


class OrganizationDefaultView(APIView):
    """Make this organization the one your requests without `X-Tenant-ID` act in."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        request=None,
        responses={200: OrganizationSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        services.membership_default_set(actor=actor)
        return Response(OrganizationSerializer(selectors.membership_current(actor=actor)).data)
