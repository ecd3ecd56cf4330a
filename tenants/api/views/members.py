"""Members of an organization: list, change a role, suspend, remove, leave."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import members, selectors
from tenants.api.serializers import MemberSerializer, MemberUpdateSerializer
from tenants.api.views.common import ERROR, ORGANIZATION_PARAMETER, TAG, organization_actor

USER_PARAMETER = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="Member's id.")


class MemberListView(GenericAPIView):
    """Who belongs to the organization, with their role and status (any member may see)."""

    serializer_class = MemberSerializer

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER],
        responses={200: MemberSerializer(many=True), 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, organization: str) -> Response:
        actor = organization_actor(request, organization)
        page = self.paginate_queryset(selectors.member_list(actor=actor))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)


class MemberDetailView(APIView):
    """Change a member's role or status (owners and admins; only owners to or from `owner`);
    remove a member, or leave (your own id). The last owner can do neither."""

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, USER_PARAMETER],
        request=MemberUpdateSerializer,
        responses={
            200: MemberSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
        examples=[OpenApiExample("promote", value={"role": "admin"}, request_only=True)],
    )
    def patch(self, request: Request, organization: str, user_id: int) -> Response:
        actor = organization_actor(request, organization)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = None
        if "role" in data:
            membership = members.member_role_set(actor=actor, user_id=user_id, role=data["role"])
        if "status" in data:
            membership = members.member_status_set(
                actor=actor, user_id=user_id, suspended=data["status"] == "suspended"
            )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        tags=TAG,
        parameters=[ORGANIZATION_PARAMETER, USER_PARAMETER],
        responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def delete(self, request: Request, organization: str, user_id: int) -> Response:
        members.member_remove(actor=organization_actor(request, organization), user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
