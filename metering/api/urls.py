"""Routes of the usage endpoint and the admin API (mounted at ``/api/v1/``)."""

from django.urls import path

from ai.api import admin as views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("admin/usage", views.AdminUsageView.as_view(), name="admin-usage"),
    path("admin/quotas/<int:user_id>", views.AdminQuotaView.as_view(), name="admin-quota"),
    path("admin/rate-limits", views.AdminRateLimitListView.as_view(), name="admin-rate-limits"),
    path(
        "admin/rate-limits/unblock",
        views.AdminRateLimitUnblockView.as_view(),
        name="admin-rate-limits-unblock",
    ),
    path("admin/stats", views.AdminStatsView.as_view(), name="admin-stats"),
    path("admin/feature-flags", views.AdminFeatureFlagView.as_view(), name="admin-feature-flags"),
]
