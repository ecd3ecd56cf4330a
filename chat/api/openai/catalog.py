"""The models the caller may use (OpenAI ``GET /v1/models``)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from ai.api.views import models_describe
from chat.api.openai.base import TAGS, OpenAIView
from chat.api.openai.errors import openai_error
from chat.api.openai_serializers import (
    ErrorSerializer,
    ModelListSerializer,
    ModelSerializer,
)


def _model_card(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def _models() -> list[dict[str, Any]]:
    described = models_describe()
    return [_model_card(m["id"], described["provider"]) for m in described["models"]]


class ModelListView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_models_list",
        summary="Models the caller may use (OpenAI `GET /v1/models`)",
        responses={200: ModelListSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": _models()})


class ModelDetailView(OpenAIView):
    @extend_schema(
        tags=TAGS,
        operation_id="openai_models_retrieve",
        summary="One model (OpenAI `GET /v1/models/{model}`)",
        responses={200: ModelSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, model_id: str) -> Response:
        for card in _models():
            if card["id"] == model_id:
                return Response(card)
        return openai_error(
            status=404,
            message=f"The model {model_id!r} does not exist.",
            code="model_not_found",
            param="model",
        )
