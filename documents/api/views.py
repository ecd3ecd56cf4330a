"""Documents REST API: upload, list, read, delete, reindex (``/api/v1/documents``)."""

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import CanWriteOrReadOnly
from accounts.throttles import IndexedUserRateThrottle, ScopedUserThrottle
from core.actor import actor_from_request
from documents.models import Document, DocumentStatus, DocumentVisibility
from documents.selectors import (
    FILE_CONTENT_TYPES,
    FILE_LINK_SECONDS,
    document_file_link_token,
    document_for_file_link,
    document_get,
    document_list,
)
from documents.services import (
    document_create,
    document_delete,
    document_reindex,
    document_update,
    document_visibility_set,
)


class DocumentUploadThrottle(ScopedUserThrottle):
    """Uploads per user (scope ``document_upload``); reading documents is not counted."""

    scope = "document_upload"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class DocumentSerializer(serializers.ModelSerializer):
    progress = serializers.IntegerField(read_only=True, help_text="Percent of chunks indexed.")
    owner_id = serializers.IntegerField(
        read_only=True, help_text="The member who uploaded it (shared documents: maybe not you)."
    )

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "visibility",
            "owner_id",
            "original_name",
            "file_type",
            "size_bytes",
            "sha256",
            "status",
            "pages",
            "chunks",
            "chunks_indexed",
            "progress",
            "error",
            "embedding_model",
            "created_at",
            "updated_at",
            "processed_at",
        ]
        read_only_fields = fields


class DocumentLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Opens the file; append `#page=N` for a PDF's page.")
    expires_in = serializers.IntegerField(help_text="Seconds the link stays valid.")


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="PDF, plain text or Markdown; the type is read from the file's bytes.",
        allow_empty_file=True,  # the service answers with a clearer message
    )
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(
        choices=DocumentVisibility.choices,
        default=DocumentVisibility.PRIVATE,
        help_text="`private` (only you) or `shared` with every member of the organization.",
    )


class DocumentChangeSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False, allow_blank=False)
    visibility = serializers.ChoiceField(
        choices=DocumentVisibility.choices,
        required=False,
        help_text="`private` or `shared` with the organization (the owner or an org admin).",
    )


_DOCUMENT_EXAMPLE = {
    "id": "0b8f8a3e-6a49-4c1c-9a55-2f1d0c7d9e21",
    "title": "Quarterly report",
    "visibility": "private",
    "owner_id": 42,
    "original_name": "q3-report.pdf",
    "file_type": "pdf",
    "size_bytes": 482133,
    "sha256": "9f2c…",
    "status": "pending",
    "pages": 0,
    "chunks": 0,
    "chunks_indexed": 0,
    "progress": 0,
    "error": "",
    "embedding_model": "",
    "created_at": "2026-11-23T09:30:00Z",
    "updated_at": "2026-11-23T09:30:00Z",
    "processed_at": None,
}


@extend_schema_view(
    list=extend_schema(
        summary="List your documents and the ones shared with your organization",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=[c for c, _ in DocumentStatus.choices],
                description="Only documents in this state.",
            )
        ],
        responses=DocumentSerializer(many=True),
        tags=["documents"],
    ),
    retrieve=extend_schema(
        summary="A document and its processing state",
        responses={200: DocumentSerializer, 404: OpenApiResponse(description="Not yours.")},
        tags=["documents"],
    ),
    destroy=extend_schema(
        summary="Delete a document, its file and every vector of it",
        description="The owner, or an organization admin for a shared document.",
        responses={
            204: None,
            403: OpenApiResponse(description="A viewer, or not yours to change."),
            404: OpenApiResponse(description="Not a document you may read."),
        },
        tags=["documents"],
    ),
)
class DocumentViewSet(viewsets.GenericViewSet):
    """Upload documents and follow their processing; viewers may only read."""

    permission_classes = [IsAuthenticated, CanWriteOrReadOnly]
    serializer_class = DocumentSerializer
    queryset = Document.objects.none()
    throttle_classes = [IndexedUserRateThrottle, DocumentUploadThrottle]
    # A malformed id is not a route: the unknown-route 404 envelope, never a 400 or a 500.
    lookup_value_regex = "-".join(f"[0-9a-fA-F]{{{n}}}" for n in (8, 4, 4, 4, 12))

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        # The action decides the parsers (below), and DRF picks parsers before it sets it.
        self.action = self.action_map.get(request.method.lower())
        return super().initialize_request(request, *args, **kwargs)

    def get_parsers(self) -> list[BaseParser]:
        """Multipart only for the upload; everything else is JSON like the rest of the API."""
        if getattr(self, "action", None) == "create":
            return [MultiPartParser()]
        return super().get_parsers()

    def list(self, request: Request) -> Response:
        status_filter = request.query_params.get("status") or None
        if status_filter and status_filter not in DocumentStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Must be one of: {', '.join(DocumentStatus.values)}."]}
            )
        page = self.paginate_queryset(
            document_list(actor=actor_from_request(request), status=status_filter)
        )
        return self.get_paginated_response(DocumentSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(
            DocumentSerializer(document_get(actor=actor_from_request(request), document_id=pk)).data
        )

    @extend_schema(
        summary="Upload a document",
        description=(
            "Multipart upload. Answers **202** with a new document (`status: pending`) whose "
            "processing runs in the background; poll the document for `status` and "
            "`progress`. Uploading the same bytes again answers **200** with the existing "
            "document (same id) and queues nothing. Over "
            "`DOCUMENT_MAX_UPLOAD_BYTES` -> 413; over `DOCUMENT_MAX_PAGES` -> 400 "
            "`TOO_MANY_PAGES`; not PDF/text/Markdown -> 415."
        ),
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={
            202: DocumentSerializer,
            200: OpenApiResponse(DocumentSerializer, description="Already uploaded."),
            400: OpenApiResponse(description="Empty file, too many pages, invalid input."),
            403: OpenApiResponse(description="A viewer, or the organization's cap (PLAN_LIMIT)."),
            413: OpenApiResponse(description="File too large."),
            415: OpenApiResponse(description="Not a PDF, text or Markdown file."),
        },
        examples=[OpenApiExample("Accepted", value=_DOCUMENT_EXAMPLE, response_only=True)],
        tags=["documents"],
    )
    def create(self, request: Request) -> Response:
        serializer = DocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document, created = document_create(
            actor=actor_from_request(request),
            uploaded_file=serializer.validated_data["file"],
            title=serializer.validated_data.get("title", ""),
            visibility=serializer.validated_data.get("visibility"),
        )
        if created:
            # The state when accepted; in embedded mode processing may already have finished.
            body = DocumentSerializer(document).data
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(DocumentSerializer(document).data, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Rename a document, or share it with the organization (or make it private)",
        description="The owner, or an organization admin for a shared document. Sharing makes "
        "the document readable and searchable by every member of the organization; making it "
        "private again takes it back at once.",
        request=DocumentChangeSerializer,
        responses={
            200: DocumentSerializer,
            400: OpenApiResponse(description="Invalid input."),
            403: OpenApiResponse(description="A viewer, or not yours to change."),
            404: OpenApiResponse(description="Not a document you may read."),
        },
        tags=["documents"],
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        serializer = DocumentChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        document = document_get(actor=actor, document_id=pk)
        data = serializer.validated_data
        if "visibility" in data:
            document = document_visibility_set(
                document=document, actor=actor, visibility=data["visibility"]
            )
        if "title" in data:
            document = document_update(document=document, actor=actor, title=data["title"])
        return Response(DocumentSerializer(document).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_from_request(request)
        document_delete(
            document=document_get(actor=actor, document_id=pk),
            actor=actor,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Process a document again",
        description="Re-extracts, re-chunks and re-embeds the stored file (e.g. after a "
        "failure or an embedding model change). 409 while it is being processed.",
        request=None,
        responses={
            202: DocumentSerializer,
            403: OpenApiResponse(description="A viewer, or not yours to change."),
            404: OpenApiResponse(description="Not a document you may read."),
            409: OpenApiResponse(description="Busy."),
        },
        tags=["documents"],
    )
    @action(detail=True, methods=["post"])
    def reindex(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_from_request(request)
        document = document_reindex(document=document_get(actor=actor, document_id=pk), actor=actor)
        return Response(DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A short-lived link that opens a document's file",
        description="For a browser tab, which cannot send the Authorization header: the link "
        f"opens the original file (PDF inline; append `#page=N`) for {FILE_LINK_SECONDS} "
        "seconds, for you only (while you may still read the document). API clients can "
        "`GET documents/{id}/file` with their token instead.",
        request=None,
        responses={200: DocumentLinkSerializer, 404: OpenApiResponse(description="Not yours.")},
        tags=["documents"],
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def link(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_from_request(request)
        document = document_get(actor=actor, document_id=pk)
        token = document_file_link_token(actor=actor, document=document)
        url = reverse("api:documents-file", kwargs={"pk": str(document.pk)})
        return Response({"url": f"{url}?token={token}", "expires_in": FILE_LINK_SECONDS})

    @extend_schema(
        summary="Your document's original file",
        description="The uploaded file, shown inline (PDF, or text for text and Markdown). "
        "Authenticated as the owner, or with the `token` of `POST documents/{id}/link`.",
        parameters=[
            OpenApiParameter("token", str, description="A link token (instead of a login).")
        ],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "text/plain"): OpenApiTypes.STR,
            401: OpenApiResponse(description="Neither a login nor a link token."),
            404: OpenApiResponse(description="Not yours, or the link expired."),
        },
        tags=["documents"],
    )
    @action(detail=True, methods=["get"], permission_classes=[AllowAny])
    def file(self, request: Request, pk: str | None = None) -> FileResponse:
        token = request.query_params.get("token")
        if token:
            document = document_for_file_link(document_id=str(pk), token=token)
        elif (actor := actor_from_request(request)).is_authenticated:
            document = document_get(actor=actor, document_id=pk)
        else:
            raise NotAuthenticated()
        if not document.file:
            raise NotFound("The file of this document is gone.")
        response = FileResponse(
            document.file.open("rb"),
            content_type=FILE_CONTENT_TYPES.get(document.file_type, "application/octet-stream"),
            as_attachment=False,
            filename=document.original_name or f"{document.pk}",
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Referrer-Policy"] = "no-referrer"  # the address holds the link token
        if document.file_type != "pdf":
            # A text file is shown as text: nothing in it may run or load.
            response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
