"""The subscription router (``/api/v1/subscription/``), the billing history and invoice
download (``/api/v1/billing/``) and Stripe's webhook. Thin: the rules are in the services."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    CancelRequestSerializer,
    ChangeResultSerializer,
    InvoiceSerializer,
    PlanSerializer,
    PortalSerializer,
    SubscriptionInfoSerializer,
    SubscriptionSerializer,
    SubscriptionSettingsSerializer,
    SubscriptionUsageSerializer,
    UpgradeRequestSerializer,
    WebhookAckSerializer,
)
from billing.selectors import (
    invoice_get,
    invoice_list,
    plan_list_public,
    subscription_info,
    subscription_usage,
)
from billing.services.invoices import invoice_render_html
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_portal_url,
    subscription_resume,
    subscription_settings_update,
)
from billing.services.webhooks import payment_event_receive
from core.actor import actor_from_request

_NOT_MANAGER = OpenApiResponse(
    description="Not the owner (nor an admin the owner allows) of the organization."
)
_CONFLICT = OpenApiResponse(description="The subscription's state does not allow it.")
_PROVIDER = {
    502: OpenApiResponse(description="The payment provider failed (`PAYMENT_PROVIDER_ERROR`)."),
    503: OpenApiResponse(description="The payment provider is not configured."),
}


def _return_url(request: Request) -> str:
    return settings.BILLING_RETURN_URL or settings.FRONTEND_URL or request.build_absolute_uri("/")


class PlanListView(generics.ListAPIView):
    """The plans an organization may choose (current versions; public, no login needed)."""

    permission_classes = [AllowAny]
    serializer_class = PlanSerializer
    pagination_class = None

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return plan_list_public()

    @extend_schema(tags=["subscription"], summary="Available plans")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class SubscriptionInfoView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="The organization's plan, status, period, entitlements and usage",
        responses={200: SubscriptionInfoSerializer},
    )
    def get(self, request: Request) -> Response:
        data = subscription_info(actor=actor_from_request(request))
        return Response(SubscriptionInfoSerializer(data).data)


class SubscriptionUsageView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="This period's usage against the plan, by model and by member",
        responses={200: SubscriptionUsageSerializer},
    )
    def get(self, request: Request) -> Response:
        data = subscription_usage(actor=actor_from_request(request))
        return Response(SubscriptionUsageSerializer(data).data)


class SubscriptionUpgradeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="Change the plan (upgrade at once, prorated; downgrade at the period end)",
        description="`plan_id` is a plan's `id` from `GET subscription/plans`. With Stripe and "
        "no payment details yet the answer is `redirect` with a Checkout URL.",
        request=UpgradeRequestSerializer,
        responses={
            200: ChangeResultSerializer,
            403: _NOT_MANAGER,
            404: OpenApiResponse(description="No such plan (`PLAN_NOT_FOUND`)."),
            409: _CONFLICT,
            **_PROVIDER,
        },
    )
    def post(self, request: Request, plan_id: str) -> Response:
        body = UpgradeRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        result = subscription_change_plan(
            actor=actor_from_request(request),
            plan_code=plan_id,
            when=body.validated_data["when"],
            return_url=_return_url(request),
        )
        return Response(
            ChangeResultSerializer(
                {"action": result.action, "url": result.url, "subscription": result.subscription}
            ).data
        )


class SubscriptionCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="Cancel the paid plan (at the period end, or `immediately`)",
        request=CancelRequestSerializer,
        responses={200: SubscriptionSerializer, 403: _NOT_MANAGER, 409: _CONFLICT, **_PROVIDER},
    )
    def post(self, request: Request) -> Response:
        body = CancelRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        subscription = subscription_cancel(
            actor=actor_from_request(request), immediately=body.validated_data["immediately"]
        )
        return Response(SubscriptionSerializer(subscription).data)


class SubscriptionResumeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="Keep the plan: undo a cancellation before the period ends",
        request=None,
        responses={200: SubscriptionSerializer, 403: _NOT_MANAGER, 409: _CONFLICT, **_PROVIDER},
    )
    def post(self, request: Request) -> Response:
        return Response(
            SubscriptionSerializer(subscription_resume(actor=actor_from_request(request))).data
        )


class SubscriptionSettingsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="Whether the organization's admins may change billing (owner only)",
        request=SubscriptionSettingsSerializer,
        responses={200: SubscriptionSerializer, 403: _NOT_MANAGER},
    )
    def patch(self, request: Request) -> Response:
        body = SubscriptionSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = subscription_settings_update(
            actor=actor_from_request(request),
            admins_may_manage=body.validated_data["admins_may_manage"],
        )
        return Response(SubscriptionSerializer(subscription).data)


class SubscriptionPortalView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["subscription"],
        summary="A Billing Portal link to update payment details (Stripe)",
        request=None,
        responses={200: PortalSerializer, 403: _NOT_MANAGER, 409: _CONFLICT, **_PROVIDER},
    )
    def post(self, request: Request) -> Response:
        url = subscription_portal_url(
            actor=actor_from_request(request), return_url=_return_url(request)
        )
        return Response({"url": url})


class BillingHistoryView(generics.ListAPIView):
    """The organization's invoices, newest first (owners and admins)."""

    permission_classes = [IsAuthenticated]
    serializer_class = InvoiceSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return invoice_list(actor=actor_from_request(self.request))

    @extend_schema(
        tags=["billing"],
        summary="Invoices (paginated)",
        responses={
            200: InvoiceSerializer(many=True),
            403: OpenApiResponse(description="Not an owner or admin."),
        },
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class InvoiceDownloadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["billing"],
        summary="An invoice as an HTML document",
        responses={
            (200, "text/html"): OpenApiTypes.STR,
            403: OpenApiResponse(description="Not an owner or admin."),
            404: OpenApiResponse(description="No such invoice in this organization."),
        },
    )
    def get(self, request: Request, invoice_id: str) -> HttpResponse:
        invoice = invoice_get(actor=actor_from_request(request), invoice_id=invoice_id)
        response = HttpResponse(invoice_render_html(invoice=invoice), content_type="text/html")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.html"'
        response["Cache-Control"] = "private, no-store"
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response


class StripeWebhookView(APIView):
    """Stripe's events: verified by signature (no login), stored once, processed in a task."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    # Stripe retries on its own schedule; the signature check is the gate.
    throttle_classes: list[type] = []

    @extend_schema(
        tags=["billing"],
        summary="Stripe webhook (signed with STRIPE_WEBHOOK_SECRET)",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: WebhookAckSerializer,
            400: OpenApiResponse(description="Bad or old signature (`WEBHOOK_SIGNATURE_INVALID`)."),
            503: OpenApiResponse(description="Stripe webhooks are not configured."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        _, created = payment_event_receive(
            provider="stripe",
            payload=request.body,
            signature=request.META.get("HTTP_STRIPE_SIGNATURE", ""),
        )
        return Response({"received": True, "duplicate": not created})
