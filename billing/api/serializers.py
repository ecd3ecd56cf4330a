"""Shapes of the subscription and billing API (money: integer minor units, ISO currency)."""

from rest_framework import serializers

from billing.models import Invoice, InvoiceLine, Plan, Subscription


class PlanSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", help_text="The plan id used by upgrade/{plan_id}.")

    class Meta:
        model = Plan
        fields = [
            "id",
            "version",
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
        ]


class EntitlementsSerializer(serializers.Serializer):
    monthly_tokens = serializers.IntegerField(allow_null=True)
    overage_policy = serializers.CharField()
    overage_price_per_1k_minor = serializers.IntegerField()
    max_members = serializers.IntegerField(allow_null=True)
    max_documents = serializers.IntegerField(allow_null=True)
    max_storage_bytes = serializers.IntegerField(allow_null=True)
    allowed_models = serializers.ListField(child=serializers.CharField())
    feature_flags = serializers.DictField(child=serializers.BooleanField())


class SubscriptionSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField(read_only=True)
    plan = PlanSerializer(read_only=True)
    pending_plan = PlanSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Subscription
        fields = [
            "organization_id",
            "plan",
            "status",
            "provider",
            "current_period_start",
            "current_period_end",
            "trial_end",
            "cancel_at_period_end",
            "canceled_at",
            "pending_plan",
            "past_due_since",
            "admins_may_manage",
        ]


class LimitUsageSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True, help_text="null: no limit.")


class TokenUsageSerializer(serializers.Serializer):
    used = serializers.IntegerField(help_text="Chat tokens of the period (what is billed).")
    allowance = serializers.IntegerField(allow_null=True)
    remaining = serializers.IntegerField(allow_null=True)
    overage = serializers.IntegerField()
    overage_policy = serializers.CharField()


class BillingUsageRowSerializer(serializers.Serializer):
    model = serializers.CharField(required=False)
    kind = serializers.CharField(required=False)
    user_id = serializers.IntegerField(required=False, allow_null=True)
    email = serializers.CharField(required=False, allow_null=True)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()


class SubscriptionUsageSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    tokens = TokenUsageSerializer()
    members = LimitUsageSerializer()
    documents = LimitUsageSerializer()
    storage_bytes = LimitUsageSerializer()
    by_model = BillingUsageRowSerializer(many=True)
    by_member = BillingUsageRowSerializer(many=True)


class SubscriptionInfoSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    entitlements = EntitlementsSerializer()
    usage = SubscriptionUsageSerializer()
    can_manage = serializers.BooleanField(help_text="Whether you may change billing.")


class UpgradeRequestSerializer(serializers.Serializer):
    when = serializers.ChoiceField(
        choices=["now", "period_end"],
        required=False,
        default="period_end",
        help_text="Downgrades only: `period_end` (default) or `now`. Upgrades apply at once.",
    )


class ChangeResultSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=["applied", "scheduled", "redirect"],
        help_text="`redirect`: send the customer to `url` (payment details); the change "
        "applies when the provider confirms it.",
    )
    url = serializers.CharField(allow_blank=True)
    subscription = SubscriptionSerializer()


class CancelRequestSerializer(serializers.Serializer):
    immediately = serializers.BooleanField(
        required=False, default=False, help_text="End the paid plan now instead of at the end."
    )


class SubscriptionSettingsSerializer(serializers.Serializer):
    admins_may_manage = serializers.BooleanField(
        help_text="Whether the organization's admins may change billing too (owner only)."
    )


class PortalSerializer(serializers.Serializer):
    url = serializers.CharField()


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["kind", "description", "quantity", "amount_minor", "period_start", "period_end"]


class InvoiceSerializer(serializers.ModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "reason",
            "provider",
            "currency",
            "subtotal_minor",
            "total_minor",
            "amount_paid_minor",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "paid_at",
            "hosted_url",
            "download_url",
            "lines",
        ]

    def get_download_url(self, invoice: Invoice) -> str:
        return f"/api/v1/billing/invoices/{invoice.pk}/download"


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
