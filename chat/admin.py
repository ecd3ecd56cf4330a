"""Management console for chat: sessions with read-only transcripts."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from chat.models import ChatMessage, ChatSession
from chat.services.sessions import chat_session_delete, chat_session_update
from core.actor import actor_from_request


class ChatMessageInline(admin.TabularInline):
    """The transcript: read-only, because what a model said is a record, not a draft."""

    model = ChatMessage
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["timestamp", "message", "response", "status", "feedback"]
    readonly_fields = fields
    ordering = ["timestamp", "id"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "user", "message_count", "is_active", "created_at", "updated_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["title", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "created_at", "updated_at", "message_count", "documents"]
    fields = [
        "user",
        "title",
        "is_active",
        "documents",
        "message_count",
        "created_at",
        "updated_at",
    ]
    inlines = [ChatMessageInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ChatSession, form: Any, change: bool) -> None:
        # Through the service, as the API renames and archives: audited (someone else's chat).
        chat_session_update(
            session=ChatSession.objects.get(pk=obj.pk),
            actor=actor_from_request(request),
            title=obj.title,
            is_active=obj.is_active,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The transcript inline is read-only: nothing of it is ever written from here.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: ChatSession) -> None:
        chat_session_delete(session=obj, actor=actor_from_request(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        for session in queryset:
            self.delete_model(request, session)


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "session", "user", "status", "short_message", "timestamp"]
    list_filter = ["status", "timestamp"]
    search_fields = ["message", "response", "user__email"]
    list_select_related = ["session", "user"]
    date_hierarchy = "timestamp"
    readonly_fields = [
        "session",
        "user",
        "message",
        "response",
        "status",
        "sources",
        "feedback",
        "metadata",
        "timestamp",
        "updated_at",
    ]
    exclude = ["token_ends"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatMessage]:
        return super().get_queryset(request).defer("token_ends")

    @admin.display(description="message")
    def short_message(self, obj: ChatMessage) -> str:
        return obj.message[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Viewable (the change page renders read-only), never editable.
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)
