"""The history of generations (``/api/v1/ai/generate*``) in the console: read-only."""

from django.contrib import admin

from ai.models import Generation
from config.admin_mixins import ReadOnlyAdminMixin


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "model", "status", "prompt_tokens", "completion_tokens"]
    list_filter = ["status", "model", "organization"]
    search_fields = ["user__email", "model"]
    list_select_related = ["user"]
    show_full_result_count = False
    ordering = ["-created_at"]
