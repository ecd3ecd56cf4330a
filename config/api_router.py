"""The versioned API: ``/api/v1/``. Each app contributes its ``api/urls.py`` here."""

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from billing.api import urls as billing_urls

app_name = "api"


class ApiRootView(APIView):
    """Entry point of the browsable API: one link per endpoint group, and the docs.

    In a browser, sign in through the management console ("Log in" at the top right); the
    console's session then works on every page of the browsable API.
    """

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        def link(name: str, **kwargs: object) -> str:
            return reverse(name, request=request, kwargs=kwargs or None)

        return Response(
            {
                "auth": {
                    "register": link("api:auth-register"),
                    "login": link("api:auth-login"),
                    "refresh": link("api:auth-refresh"),
                    "logout": link("api:auth-logout"),
                },
                "users": {
                    "me": link("api:user-me"),
                    "api_keys": link("api:user-api-keys"),
                    "list (admin)": link("api:user-list"),
                },
                "chat": {
                    "sessions": link("api:chat-session-list"),
                    "send_message": link("api:chat-message-send"),
                    "websocket": request.build_absolute_uri("/ws/chat/")
                    .replace("http://", "ws://", 1)
                    .replace("https://", "wss://", 1),
                },
                "documents": {
                    "documents": link("api:documents-list"),
                    "search": link("api:search"),
                },
                "ai": {"models": link("api:ai-models"), "usage": link("api:usage")},
                "subscription": {
                    "info": link("api:subscription-info"),
                    "plans": link("api:subscription-plans"),
                    "usage": link("api:subscription-usage"),
                    "billing_history": link("api:billing-history"),
                },
                "organizations": {
                    "mine": link("api:organization-list"),
                    "current": link("api:organization-detail", organization="current"),
                },
                "train": {
                    "upload": link("api:train-upload"),
                    "jobs": link("api:train-jobs"),
                    "datasets": link("api:train-datasets"),
                },
                "admin": {
                    "stats": link("api:admin-stats"),
                    "usage": link("api:admin-usage"),
                    "rate_limits": link("api:admin-rate-limits"),
                    "feature_flags": link("api:admin-feature-flags"),
                },
                "schema": link("schema"),
                "docs": link("swagger-ui"),
                "redoc": link("redoc"),
                "health": link("health"),
                "console_login": link("admin:login"),
            }
        )


urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    # accounts routes
    path("", include("accounts.api.urls")),
    # chat routes
    path("chat/", include("chat.api.urls")),
    path("ai/", include("chat.api.ai_urls")),
    # documents routes
    path("", include("documents.api.urls")),
    # usage and quota routes
    path("", include("metering.api.urls")),
    # the current organization's usage and quotas (before tenants' organizations/<org>/...)
    path("organizations/current/", include("metering.api.organization_urls")),
    # fine-tuning routes (seed 003's training router)
    path("train/", include("finetuning.api.urls")),
    # subscriptions and billing routes
    path("subscription/", include(billing_urls.subscription_urlpatterns)),
    path("billing/", include(billing_urls.billing_urlpatterns)),
    # operations admin API routes: rate limits, stats, feature flags
    path("", include("ops.api.urls")),
    # organizations: members, invitations, settings, audit, flags
    path("", include("tenants.api.urls")),
]
