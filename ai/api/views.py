"""``GET /api/v1/ai/models``: which provider and models this server uses."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ai.api.serializers import ModelsSerializer
from ai.providers import get_provider
from ai.providers.limits import organization_models
from core.actor import actor_from_request


def models_describe(organization: Any = None) -> dict:
    """The configured provider, its chat models (the allow-list, narrowed by the
    organization's ``allowed_models``) and its embedding model."""
    provider = get_provider()
    chat, default = organization_models(default=provider.chat_model, organization=organization)
    models = [{"id": m, "kind": "chat", "default": m == default} for m in chat]
    models.append({"id": provider.embedding_model, "kind": "embedding", "default": True})
    return {
        "provider": provider.name,
        "offline": provider.name == "offline",
        "max_tokens": int(settings.AI_MAX_TOKENS),
        "models": models,
    }


class ModelsView(APIView):
    @extend_schema(
        tags=["ai"],
        summary="The configured AI provider and models",
        responses={200: ModelsSerializer},
        examples=[
            OpenApiExample(
                "azure",
                value={
                    "provider": "azure",
                    "offline": False,
                    "max_tokens": 2048,
                    "models": [
                        {"id": "gpt-4o", "kind": "chat", "default": True},
                        {"id": "text-embedding-3-large", "kind": "embedding", "default": True},
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        organization = actor_from_request(request).organization
        return Response(ModelsSerializer(models_describe(organization)).data)
