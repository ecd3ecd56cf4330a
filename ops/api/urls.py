"""Routes of the operations admin API (mounted at ``/api/v1/``)."""

from django.urls import path

from ops.api import views

urlpatterns = [
    path("admin/rate-limits", views.AdminRateLimitListView.as_view(), name="admin-rate-limits"),
    path(
        "admin/rate-limits/unblock",
        views.AdminRateLimitUnblockView.as_view(),
        name="admin-rate-limits-unblock",
    ),
    path("admin/stats", views.AdminStatsView.as_view(), name="admin-stats"),
    path("admin/feature-flags", views.AdminFeatureFlagView.as_view(), name="admin-feature-flags"),
]
