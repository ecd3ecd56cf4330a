"""Routes under /api/v1/ai/ (no trailing slashes)."""

from django.urls import path

from ai.api.views import ModelsView
from chat.api.generate import (
    GenerateBatchView,
    GenerateView,
    IdeaRateView,
    IdeasHistoryView,
    ModelLoadView,
    StreamGenerateView,
)

urlpatterns = [
    path("models", ModelsView.as_view(), name="ai-models"),
    path("models/<path:model_key>/load", ModelLoadView.as_view(), name="ai-model-load"),
    path("generate", GenerateView.as_view(), name="ai-generate"),
    path("generate/batch", GenerateBatchView.as_view(), name="ai-generate-batch"),
    path("stream/generate", StreamGenerateView.as_view(), name="ai-stream-generate"),
    path("ideas/history", IdeasHistoryView.as_view(), name="ai-ideas-history"),
    path("ideas/<int:generation_id>/rate", IdeaRateView.as_view(), name="ai-idea-rate"),
]
