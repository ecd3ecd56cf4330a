"""WSGI application and URLs of the benchmark's ceiling: one bare DRF ``APIView``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.performance.ceiling_settings")
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class CeilingView(APIView):
    """DRF's defaults (authenticators, renderers, content negotiation) and a small JSON body."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"id": 1, "email": "ceiling@example.com", "role": "user"})


urlpatterns = [path("ceiling", CeilingView.as_view())]

application = get_wsgi_application()
