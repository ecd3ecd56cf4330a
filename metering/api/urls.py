"""Routes of the usage endpoint and the usage/quota admin API (mounted at ``/api/v1/``)."""

from django.urls import path

from metering.api import views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("admin/usage", views.AdminUsageView.as_view(), name="admin-usage"),
    path("admin/quotas/<int:user_id>", views.AdminQuotaView.as_view(), name="admin-quota"),
]
