"""Routes under /api/v1/ai/."""

from django.urls import path

from ai.api.views import ModelsView

urlpatterns = [
    path("models", ModelsView.as_view(), name="ai-models"),
]
