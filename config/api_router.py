"""The versioned API: ``/api/v1/``. Each app contributes its ``api/urls.py`` here."""

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

app_name = "api"


class ApiRootView(APIView):
    """Entry point of the browsable API: links to every endpoint group."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        def link(name: str) -> str:
            return reverse(name, request=request)

        return Response(
            {
                "schema": link("schema"),
                "docs": link("swagger-ui"),
                "redoc": link("redoc"),
                "health": link("health"),
            }
        )


urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    # accounts routes
    path("", include("accounts.api.urls")),
    # chat routes
    path("chat/", include("chat.api.urls")),
    path("ai/", include("ai.api.urls")),
    # documents routes
    path("", include("ai.api.document_urls")),
    # usage, quotas, flags and admin API routes
    path("", include("ai.api.admin_urls")),
]
