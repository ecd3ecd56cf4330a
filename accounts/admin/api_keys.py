"""Personal API keys in the console: seen (never a secret) and revoked."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import apikeys
from accounts.models import ApiKey
from core.actor import actor_from_request


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """See every personal API key (never a secret: only its hash is stored) and revoke them."""

    list_display = ("name", "prefix", "user", "scopes", "created_at", "last_used_at", "expires_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    exclude = ("secret_hash",)
    actions = ["revoke_keys"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by their owner, who alone sees the secret once

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for key in queryset.select_related("user"):
            apikeys.api_key_revoke(key=key, actor=actor_from_request(request))
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
