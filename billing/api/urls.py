"""Routes of subscriptions (``/api/v1/subscription/``) and billing (``/api/v1/billing/``)."""

from django.urls import path

from billing.api import views

subscription_urlpatterns = [
    path("info", views.SubscriptionInfoView.as_view(), name="subscription-info"),
    path("plans", views.PlanListView.as_view(), name="subscription-plans"),
    path(
        "upgrade/<str:plan_id>",
        views.SubscriptionUpgradeView.as_view(),
        name="subscription-upgrade",
    ),
    path("cancel", views.SubscriptionCancelView.as_view(), name="subscription-cancel"),
    path("resume", views.SubscriptionResumeView.as_view(), name="subscription-resume"),
    path("settings", views.SubscriptionSettingsView.as_view(), name="subscription-settings"),
    path("portal", views.SubscriptionPortalView.as_view(), name="subscription-portal"),
    path("usage", views.SubscriptionUsageView.as_view(), name="subscription-usage"),
    # The seed's route of the same history (GET /subscription/billing/history).
    path(
        "billing/history",
        views.BillingHistoryView.as_view(),
        name="subscription-billing-history",
    ),
]

billing_urlpatterns = [
    path("history", views.BillingHistoryView.as_view(), name="billing-history"),
    path(
        "invoices/<uuid:invoice_id>/download",
        views.InvoiceDownloadView.as_view(),
        name="billing-invoice-download",
    ),
    path("webhooks/stripe", views.StripeWebhookView.as_view(), name="billing-webhook-stripe"),
]
