"""Routes of the current organization's usage and quotas (mounted at
``/api/v1/organizations/current/``; the other organization routes are ``tenants``')."""

from django.urls import path

from metering.api import organization_views

urlpatterns = [
    path("usage", organization_views.OrganizationUsageView.as_view(), name="organization-usage"),
    path("quotas", organization_views.OrganizationQuotaView.as_view(), name="organization-quotas"),
]
