"""Invitations of an organization: list pending, invite, revoke, resend; accept by token."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_from_request
from tenants import invitations, selectors
from tenants.api.serializers import (
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    OrganizationSerializer,
)
from tenants.api.views.common import ERROR, ORGANIZATION_PARAMETER, TAG, organization_actor

INVITATION_PARAMETER = OpenApiParameter(
    "invitation_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The invitation's id."
)


class InvitationListCreateView(GenericAPIView):
    """Pending invitations (owners and admins); invite an email address with a role (not
    above yours). The mail carries the accept link; at most `INVITATIONS_PER_HOUR` per
    organization."""

    serializer_class = InvitationSerializer

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        responses={200: InvitationSerializer(many=True), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        page = self.paginate_queryset(selectors.invitation_list(actor=actor))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            429: ERROR,
        },
        examples=[
            OpenApiExample(
                "invite", value={"email": "grace@example.com", "role": "member"}, request_only=True
            )
        ],
    )
    def post(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, _ = invitations.invitation_create(actor=actor, **serializer.validated_data)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    """Revoke an invitation: its link stops working."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, INVITATION_PARAMETER],
        responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def delete(self, request: Request, organization: str, invitation_id: str) -> Response:
        actor = organization_actor(request, organization)
        invitations.invitation_revoke(actor=actor, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationResendView(APIView):
    """Mail the invitation again with a new link and expiry (the old link stops working)."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, INVITATION_PARAMETER],
        request=None,
        responses={
            200: InvitationSerializer,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            410: ERROR,
            429: ERROR,
        },
    )
    def post(self, request: Request, organization: str, invitation_id: str) -> Response:
        actor = organization_actor(request, organization)
        invitation, _ = invitations.invitation_resend(actor=actor, invitation_id=invitation_id)
        return Response(InvitationSerializer(invitation).data)


class InvitationAcceptView(APIView):
    """Join an organization with the token of an invitation mailed to your account's email
    address. Refused: `INVITATION_INVALID` (404), `INVITATION_WRONG_ACCOUNT` (403),
    `INVITATION_USED` (409), `INVITATION_EXPIRED` / `INVITATION_REVOKED` (410), `PLAN_LIMIT`
    (403, the organization is full)."""

    @extend_schema(
        tags=TAG,
        request=InvitationAcceptSerializer,
        responses={
            200: OrganizationSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            410: ERROR,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = InvitationAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        membership = invitations.invitation_accept(
            actor=actor, token=serializer.validated_data["token"]
        )
        row = selectors.membership_list_for_user(actor=actor).get(pk=membership.pk)
        return Response(OrganizationSerializer(row).data)
