"""The OpenAI-compatible API: ``/v1/`` (outside ``/api/v1/`` so base-URL clients work)."""

from django.urls import path

from chat.api.openai.catalog import ModelDetailView, ModelListView
from chat.api.openai.completions import ChatCompletionsView
from chat.api.openai.embeddings import EmbeddingsView

urlpatterns = [
    path("chat/completions", ChatCompletionsView.as_view(), name="openai-chat-completions"),
    path("embeddings", EmbeddingsView.as_view(), name="openai-embeddings"),
    path("models", ModelListView.as_view(), name="openai-models"),
    path("models/<path:model_id>", ModelDetailView.as_view(), name="openai-model"),
]
