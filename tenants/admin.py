"""Organizations in the management console (platform administrators): every organization
with its members and invitations; suspension and reactivation go through the service (audited,
members' sockets closed at once)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from config.exceptions import ApplicationError
from core.actor import actor_from_request
from ops.audit import audit_log
from tenants.models import Invitation, Membership, Organization
from tenants.services import organization_status_set


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "status", "is_default", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]


class InvitationInline(admin.TabularInline):
    """Invitations as sent; the link's secret is never stored, so it is never shown."""

    model = Invitation
    extra = 0
    fields = (
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "is_personal", "member_count", "created_at"]
    list_filter = ["status", "is_personal"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["id", "status", "suspended_at", "created_at"]
    fields = [
        "id",
        "name",
        "slug",
        "is_personal",
        "status",
        "suspended_at",
        "system_prompt",
        "allowed_models",
        "max_members",
        "max_documents",
        "max_storage_bytes",
        "created_at",
    ]
    inlines = [MembershipInline, InvitationInline]
    actions = ["suspend", "unsuspend"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return int(getattr(obj, "_member_count", 0))

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_log(
            actor=actor_from_request(request),
            action="organization.console_change" if change else "organization.console_create",
            target=obj,
            fields=sorted(form.changed_data),
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        # Memberships edited here (role, status, removal) bypass the API's rules: audited.
        touched = formset.changed_objects or formset.deleted_objects or formset.new_objects
        if formset.model is Membership and touched:
            audit_log(
                actor=actor_from_request(request),
                action="organization.console_members",
                target=form.instance,
                changed=[str(obj) for obj, _ in formset.changed_objects],
                added=[str(obj) for obj in formset.new_objects],
                removed=[str(obj) for obj in formset.deleted_objects],
            )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Organization], suspend: bool
    ) -> None:
        actor = actor_from_request(request)
        changed = 0
        for organization in queryset:
            try:
                changed += organization_status_set(
                    actor=actor, organization=organization, suspend=suspend
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
                return
        verb = "suspended" if suspend else "reactivated"
        self.message_user(request, f"{changed} organization(s) {verb}.", level=messages.SUCCESS)

    @admin.action(description="Suspend (members are refused at once, their sockets close)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._set_status(request, queryset, suspend=True)

    @admin.action(description="Reactivate")
    def unsuspend(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        self._set_status(request, queryset, suspend=False)
