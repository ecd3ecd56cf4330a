"""Embeddings (OpenAI ``POST /v1/embeddings``)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from chat.api.openai.base import TAGS, OpenAIView
from chat.api.openai_serializers import (
    EmbeddingListSerializer,
    EmbeddingRequestSerializer,
    ErrorSerializer,
)
from chat.completions.embeddings import embedding_base64, embedding_create
from core.actor import actor_from_request


class EmbeddingsView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_embeddings_create",
        summary="Embeddings (OpenAI `POST /v1/embeddings`)",
        request=EmbeddingRequestSerializer,
        responses={
            200: EmbeddingListSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
            429: ErrorSerializer,
            502: ErrorSerializer,
            503: ErrorSerializer,
            504: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = EmbeddingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        vectors, model, usage = embedding_create(
            actor=actor_from_request(request),
            texts=data["input"],
            model=data["model"],
            dimensions=data.get("dimensions"),
            end_user=data.get("user") or "",
        )
        encode = embedding_base64 if data["encoding_format"] == "base64" else list
        return Response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": index, "embedding": encode(vector)}
                    for index, vector in enumerate(vectors)
                ],
                "model": model,
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "total_tokens": usage.total_tokens,
                },
            }
        )
