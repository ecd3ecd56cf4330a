"""Session records in the console, read-only: ended refresh tokens and revoked access tokens."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from rest_framework_simplejwt.token_blacklist.admin import BlacklistedTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import RevokedAccessToken
from config.admin_mixins import ReadOnlyAdminMixin

# simplejwt's blacklist admin lets anyone add or edit blacklist rows by hand, unaudited:
# sessions end through the services (suspension, "log out everywhere"); here they are records.
if admin.site.is_registered(BlacklistedToken):
    admin.site.unregister(BlacklistedToken)


@admin.register(BlacklistedToken)
class BlacklistedTokenRecordAdmin(ReadOnlyAdminMixin, BlacklistedTokenAdmin):
    """Ended refresh tokens, read-only."""


@admin.register(RevokedAccessToken)
class RevokedAccessTokenAdmin(admin.ModelAdmin):
    list_display = ("jti", "user", "revoked_at", "expires_at")
    search_fields = ("jti", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("jti", "user", "revoked_at", "expires_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a record of a logout: viewable, never edited
