"""Top-level URLs: API, schema and docs, health, metrics, admin and the chat page."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config.health import health, health_detailed
from config.metrics import metrics_view
from config.views import (
    MOVED_ADMIN_PATTERN,
    api_not_found,
    chat_page,
    favicon,
    moved_admin_page,
)

admin.site.site_header = f"{settings.PROJECT_NAME} administration"
admin.site.site_title = settings.PROJECT_NAME
admin.site.index_title = "Management console"

urlpatterns = [
    path("api/v1/", include("config.api_router")),
    path("v1/", include("chat.api.openai_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Every other path under /api/: the 404 envelope (in DEBUG too), or the right form of a
    # path asked with a trailing slash it does not have.
    re_path(r"^api/", api_not_found, name="api-not-found"),
    path("health", health, name="health"),
    path("healthz", health, name="healthz"),  # alias for seed 004 clients
    path("health/detailed", health_detailed, name="health-detailed"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    re_path(MOVED_ADMIN_PATTERN, moved_admin_page, name="moved-admin-page"),
    path("admin/", admin.site.urls),
    path("", chat_page, name="chat-page"),
]

handler400 = "config.exceptions.handler400"
handler403 = "config.exceptions.handler403"
handler404 = "config.exceptions.handler404"
handler500 = "config.exceptions.handler500"
