"""REST front door of chat: sessions, their messages, sending a message, feedback."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanWriteOrReadOnly
from chat.api.serializers import (
    ChatMessageSerializer,
    ChatSessionCreateSerializer,
    ChatSessionSerializer,
    ChatSessionUpdateSerializer,
    FeedbackSerializer,
    RegenerateSerializer,
    SendMessageSerializer,
)
from chat.selectors import (
    SESSION_SEARCH_MAX_CHARS,
    chat_message_get,
    chat_message_list,
    chat_session_document_ids_attach,
    chat_session_get,
    chat_session_list,
)
from chat.services.feedback import chat_message_feedback_set
from chat.services.send import chat_message_send
from chat.services.sessions import chat_session_create, chat_session_delete, chat_session_update
from config.representation import Representer
from core.actor import actor_from_request

_ERRORS = {
    401: OpenApiResponse(description="Not authenticated (error envelope)."),
    404: OpenApiResponse(description="Not found, or another user's object (error envelope)."),
}
_MESSAGE_EXAMPLE = OpenApiExample(
    "answer",
    value={
        "message_id": 42,
        "session_id": 7,
        "message": "What is our refund policy?",
        "response": "Refunds are possible within 30 days [1].",
        "status": "complete",
        "sources": [
            {
                "document_id": "3f0c9a52-1b1e-4c1b-9f7e-6f2c1d2e3a4b",
                "title": "Policies",
                "page": 4,
                "score": 0.83,
                "snippet": "Customers may ask for a refund within 30 days...",
            }
        ],
        "metadata": {
            "provider": "azure",
            "model": "gpt-4o",
            "prompt_tokens": 412,
            "completion_tokens": 38,
            "total_tokens": 450,
            "ttft_ms": 620,
            "latency_ms": 1480,
            "finish_reason": "stop",
        },
        "feedback": None,
        "timestamp": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)


# The list's rows rendered by one serializer instance (config.representation).
_session_rows = Representer(ChatSessionSerializer)


class SessionListCreateView(ListAPIView):
    """Your chat sessions, newest first; create one."""

    permission_classes = [IsAuthenticated, CanWriteOrReadOnly]
    serializer_class = ChatSessionSerializer

    def get_queryset(self):
        return chat_session_list(
            actor=actor_from_request(self.request),
            search=self.request.query_params.get("q"),
            prefetch_documents=False,
        )

    @extend_schema(
        tags=["chat"],
        summary="List your chat sessions (newest first)",
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="Only sessions whose title, questions or answers contain this text "
                f"(case-insensitive, at most {SESSION_SEARCH_MAX_CHARS} characters).",
            )
        ],
        responses={
            200: ChatSessionSerializer(many=True),
            400: OpenApiResponse(description="Search longer than allowed (error envelope)."),
        },
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        page = chat_session_document_ids_attach(list(self.paginate_queryset(self.get_queryset())))
        return self.get_paginated_response(_session_rows.many(page))

    @extend_schema(
        tags=["chat"],
        summary="Create a chat session",
        request=ChatSessionCreateSerializer,
        responses={201: ChatSessionSerializer, 403: OpenApiResponse(description="Viewer role.")},
        examples=[
            OpenApiExample("create", value={"title": "Quarterly report", "document_ids": []})
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = ChatSessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = chat_session_create(
            actor=actor_from_request(request), **serializer.validated_data
        )
        session = chat_session_get(session_id=session.pk, actor=actor_from_request(request))
        return Response(ChatSessionSerializer(session).data, status=status.HTTP_201_CREATED)


class SessionDetailView(APIView):
    permission_classes = [IsAuthenticated, CanWriteOrReadOnly]

    @extend_schema(
        tags=["chat"], summary="A chat session", responses={200: ChatSessionSerializer, **_ERRORS}
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = chat_session_get(session_id=session_id, actor=actor_from_request(request))
        return Response(ChatSessionSerializer(session).data)

    @extend_schema(
        tags=["chat"],
        summary="Rename, archive or re-scope a chat session",
        request=ChatSessionUpdateSerializer,
        responses={200: ChatSessionSerializer, **_ERRORS},
        examples=[OpenApiExample("rename", value={"title": "Budget questions"})],
    )
    def patch(self, request: Request, session_id: int) -> Response:
        session = chat_session_get(session_id=session_id, actor=actor_from_request(request))
        # partial: a field the client did not send is never read as false or empty.
        serializer = ChatSessionUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        chat_session_update(
            session=session, actor=actor_from_request(request), **serializer.validated_data
        )
        session = chat_session_get(session_id=session_id, actor=actor_from_request(request))
        return Response(ChatSessionSerializer(session).data)

    @extend_schema(
        tags=["chat"],
        summary="Delete a chat session and its messages",
        responses={204: None, **_ERRORS},
    )
    def delete(self, request: Request, session_id: int) -> Response:
        session = chat_session_get(session_id=session_id, actor=actor_from_request(request))
        chat_session_delete(session=session, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionMessagesView(ListAPIView):
    """Messages of one of your sessions, oldest first."""

    permission_classes = [IsAuthenticated]
    serializer_class = ChatMessageSerializer

    def get_queryset(self):
        session = chat_session_get(
            session_id=self.kwargs["session_id"], actor=actor_from_request(self.request)
        )
        return chat_message_list(session=session)

    @extend_schema(
        tags=["chat"],
        summary="Messages of a session (chronological)",
        responses={200: ChatMessageSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class SendMessageView(APIView):
    """The non-streaming path: send a message, get the whole answer."""

    # Writer, verified email and the per-user message rate are the chat service's rules
    # (the same on the WebSocket); the door only authenticates.
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["chat"],
        summary="Send a message and wait for the whole answer",
        description="Creates a session titled from the message when `session_id` is absent. "
        "For token streaming use the WebSocket `/ws/chat/`.",
        request=SendMessageSerializer,
        responses={
            200: ChatMessageSerializer,
            403: OpenApiResponse(description="Viewer role (error envelope)."),
            409: OpenApiResponse(description="The session is archived (error envelope)."),
            502: OpenApiResponse(description="The model provider failed (error envelope)."),
            429: OpenApiResponse(
                description="`QUOTA_EXCEEDED` (token budget or concurrent answers; "
                "`details.resets_at`) or `RATE_LIMITED` (error envelope)."
            ),
            503: OpenApiResponse(description="The model provider is rate limiting."),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "request", value={"message": "What is our refund policy?"}, request_only=True
            ),
            _MESSAGE_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = SendMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        message = chat_message_send(
            actor=actor_from_request(request),
            content=data["message"],
            session_id=data.get("session_id"),
            model=data.get("model"),
        )
        return Response(ChatMessageSerializer(message).data)


class SessionRegenerateView(APIView):
    """Ask the session's last question again; the new answer replaces the last one."""

    # Writer, verified email and the per-user message rate are the chat service's rules, as
    # for sending a message; the door only authenticates.
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["chat"],
        summary="Regenerate the last answer of a session",
        description="The session's last question is sent to the model again (optionally "
        "another `model`); the new answer replaces the last one, which is deleted once the "
        "new turn is stored (its usage stays accounted). Streaming clients send the WebSocket "
        "frame `{type: message, session_id, regenerate: true}` instead.",
        request=RegenerateSerializer,
        responses={
            200: ChatMessageSerializer,
            400: OpenApiResponse(description="The session has no answer yet (error envelope)."),
            403: OpenApiResponse(description="Viewer role (error envelope)."),
            409: OpenApiResponse(
                description="The last answer is still being generated, or the session is "
                "archived (error envelope)."
            ),
            429: OpenApiResponse(description="`QUOTA_EXCEEDED` or `RATE_LIMITED`."),
            502: OpenApiResponse(description="The model provider failed (error envelope)."),
            503: OpenApiResponse(description="The model provider is rate limiting."),
            **_ERRORS,
        },
    )
    def post(self, request: Request, session_id: int) -> Response:
        serializer = RegenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = chat_message_send(
            actor=actor_from_request(request),
            content="",
            session_id=session_id,
            model=serializer.validated_data.get("model"),
            regenerate=True,
        )
        return Response(ChatMessageSerializer(message).data)


class MessageFeedbackView(APIView):
    permission_classes = [IsAuthenticated, CanWriteOrReadOnly]

    @extend_schema(
        tags=["chat"],
        summary="Rate an answer (thumbs up or down)",
        request=FeedbackSerializer,
        responses={
            200: ChatMessageSerializer,
            409: OpenApiResponse(description="The answer is still being generated."),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "down",
                value={"rating": "down", "comment": "Cites the wrong page."},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, message_id: int) -> Response:
        message = chat_message_get(message_id=message_id, actor=actor_from_request(request))
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = chat_message_feedback_set(
            message=message, actor=actor_from_request(request), **serializer.validated_data
        )
        return Response(ChatMessageSerializer(message).data)
