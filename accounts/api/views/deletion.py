"""Admin: delete a user (preview, then the background job) - the API door of
``accounts.deletion``, with the same rules as the console's Delete page."""

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import deletion, selectors
from accounts.api.views.common import ERROR, USERS_TAG
from accounts.models import UserDeletion
from accounts.permissions import IsAdminRole


class UserDeletionJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserDeletion
        fields = [
            "id",
            "status",
            "step",
            "preview",
            "removed",
            "attempts",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


UserDeletionPreviewSerializer = inline_serializer(
    "UserDeletionPreview",
    fields={
        "removed": serializers.DictField(
            child=serializers.IntegerField(), help_text="What goes: label -> count."
        ),
        "kept": serializers.DictField(
            child=serializers.IntegerField(),
            help_text="What stays, anonymised (usage records, for accounting).",
        ),
        "job": UserDeletionJobSerializer(allow_null=True, help_text="The open job, if any."),
    },
)


def _job_data(job: UserDeletion | None) -> dict[str, Any] | None:
    return UserDeletionJobSerializer(job).data if job is not None else None


class UserDeletionView(APIView):
    """``GET``: what deleting the user removes and keeps. ``POST``: deactivate the user now and
    queue the deletion job (202); asking again returns the open job."""

    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(
        tags=USERS_TAG,
        summary="Preview deleting a user",
        responses={200: UserDeletionPreviewSerializer, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get(actor=request.user, user_id=user_id)
        preview = deletion.user_deletion_preview(user=user)
        return Response(
            {
                "removed": preview.removed,
                "kept": preview.kept,
                "job": _job_data(deletion.user_deletion_open(user=user)),
            }
        )

    @extend_schema(
        tags=USERS_TAG,
        summary="Delete a user (background job)",
        request=None,
        responses={202: UserDeletionJobSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get(actor=request.user, user_id=user_id)
        job = deletion.user_deletion_request(actor=request.user, user=user, request=request)
        job.refresh_from_db()
        return Response(_job_data(job), status=status.HTTP_202_ACCEPTED)
