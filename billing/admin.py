"""Plans, subscriptions, invoices and payment events in the management console.

Plans are edited here (an edit of a sold plan's terms saves a new version). Subscriptions,
invoices and payment events are read-only: they change through the services (the API, the
period close, the provider's webhooks); an operator records the payment of a manual invoice
with the "Mark paid" action.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError as DrfValidationError

from billing.models import Invoice, InvoiceLine, PaymentEvent, Plan, Subscription
from billing.services.invoices import invoice_mark_paid
from billing.services.plans import plan_save, plan_validate
from config.admin_mixins import ReadOnlyAdminMixin, form_errors_from
from config.exceptions import ApplicationError
from core.actor import actor_from_request
from tenants.models import Organization


class PlanAdminForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "description",
            "price_minor",
            "currency",
            "interval",
            "trial_days",
            "monthly_tokens",
            "overage_policy",
            "overage_price_per_1k_minor",
            "max_members",
            "max_documents",
            "max_storage_bytes",
            "allowed_models",
            "feature_flags",
            "is_public",
            "sort_order",
            "stripe_price_id",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The service's checks (currency, known feature flags), shown on the form.
        candidate = Plan(
            currency=cleaned.get("currency") or "",
            feature_flags=cleaned.get("feature_flags", {}),
            allowed_models=cleaned.get("allowed_models", []),
        )
        try:
            plan_validate(candidate)
        except (ApplicationError, DrfValidationError) as exc:
            form_errors_from(self, exc)
        return cleaned


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanAdminForm
    list_display = [
        "code",
        "version",
        "name",
        "price_minor",
        "currency",
        "interval",
        "monthly_tokens",
        "overage_policy",
        "is_public",
        "is_current",
    ]
    list_filter = ["is_current", "is_public", "interval", "overage_policy"]
    search_fields = ["code", "name"]
    readonly_fields = ["version", "is_current", "created_at"]
    ordering = ["code", "-version"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Invoices and subscriptions keep the plan they were sold under.
        return False

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        saved = plan_save(
            actor=actor_from_request(request), plan=obj, changed=list(form.changed_data)
        )
        if saved.pk != obj.pk:
            messages.info(
                request,
                f"Subscribers keep version {obj.version} until renewal; saved as version "
                f"{saved.version}.",
            )
        obj.pk = saved.pk


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "organization",
        "plan",
        "status",
        "provider",
        "current_period_end",
        "cancel_at_period_end",
        "pending_plan",
    ]
    list_filter = ["status", "provider", "cancel_at_period_end"]
    search_fields = ["organization__name", "organization__slug", "provider_subscription_id"]
    list_select_related = ["organization", "plan", "pending_plan"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return Subscription.all_organizations.all()


class InvoiceLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["kind", "description", "quantity", "amount_minor", "period_start", "period_end"]
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "organization_label",
        "status",
        "total_minor",
        "currency",
        "reason",
        "provider",
        "issued_at",
        "due_at",
        "paid_at",
    ]
    list_filter = ["status", "provider", "reason"]
    search_fields = ["number", "organization__name", "provider_invoice_id"]
    inlines = [InvoiceLineInline]
    actions = ["mark_paid"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return Invoice.all_organizations.all()

    @admin.display(description="Organization")
    def organization_label(self, invoice: Invoice) -> str:
        # An invoice outlives its organization (accounting): show the id when it is gone.
        organization = Organization.objects.filter(pk=invoice.organization_id).first()
        return str(organization) if organization else f"(deleted) {invoice.organization_id}"

    @admin.action(description="Mark paid (manual invoices)")
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        actor = actor_from_request(request)
        done = 0
        for invoice in queryset:
            try:
                invoice_mark_paid(actor=actor, invoice=invoice)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{invoice}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} invoice(s) marked paid.", messages.SUCCESS)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "outcome",
        "attempts",
        "processed_at",
    ]
    list_filter = ["provider", "outcome", "event_type"]
    search_fields = ["event_id"]
    show_full_result_count = False
