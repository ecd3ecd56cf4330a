"""The management console for users: list, filters, search and the account actions.

Every action calls the same service the API uses (suspension ends sessions, role changes are
audited, MFA reset removes devices), so the console never bypasses a rule.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts import deletion, mfa, mfa_state, services
from accounts.admin.forms import UserChangeForm, UserCreationForm
from accounts.models import Role, User
from config.exceptions import ApplicationError
from core.actor import actor_from_request


class MfaFilter(admin.SimpleListFilter):
    title = "MFA"
    parameter_name = "mfa"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("on", "On"), ("off", "Off")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "on":
            return queryset.filter(mfa_enabled=True)
        if self.value() == "off":
            return queryset.filter(mfa_enabled=False)
        return queryset


# What the change form may change, all through ``services.user_update``.
ADMIN_EDITABLE = (*services.ADMIN_FIELDS, "role", "is_active")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = (
        "email",
        "username",
        "full_name",
        "role",
        "is_active",
        "is_verified",
        "mfa_on",
        "last_login",
        "created_at",
    )
    list_filter = ("role", "is_active", "is_verified", MfaFilter)
    search_fields = ("email", "username", "full_name")
    ordering = ("-created_at",)
    readonly_fields = ("last_login", "created_at", "mfa_on", "deactivation_reason")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("email", "current_password", "username", "full_name", "password")}),
        (
            "Access",
            {"fields": ("role", "is_active", "deactivation_reason", "is_verified", "mfa_on")},
        ),
        ("Dates", {"fields": ("last_login", "created_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "full_name", "role", "password1", "password2"),
            },
        ),
    )
    filter_horizontal = ()
    actions = (
        "suspend_users",
        "reactivate_users",
        "reset_mfa",
        "make_admin",
        "make_user",
        "make_viewer",
    )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        # The change form checks the acting admin's password (step-up): hand it the request.
        return type(form.__name__, (form,), {"console_request": request})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # MFA state comes from one EXISTS subquery, not a query per row.
        return mfa_state.users_with_mfa_state(super().get_queryset(request))

    @admin.display(boolean=True, description="MFA", ordering="mfa_enabled")
    def mfa_on(self, user: User) -> bool:
        return mfa_state.user_has_mfa(user=user)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            # The form saved a new password: old tokens must not outlive it.
            user = self.get_object(request, unquote(id))
            if user is not None:
                services.user_password_reset_by_admin(actor=actor_from_request(request), user=user)
        return response

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Through the services, as the API does: checks, audit lines, sessions ended on a role
        # change or a suspension. The form already ran the same checks (user_update_check).
        if not change:
            password = form.cleaned_data.get("password1") or None
            if form.cleaned_data.get("usable_password") is False:
                password = None
            created = services.user_create_by_admin(
                actor=actor_from_request(request),
                email=obj.email,
                username=obj.username,
                full_name=obj.full_name,
                role=obj.role,
                password=password,
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        data = {
            field: form.cleaned_data[field]
            for field in ("email", "username", "full_name", "is_verified", "role", "is_active")
            if field in form.changed_data
        }
        if not data:
            return
        services.user_update(
            actor=actor_from_request(request),
            user=User.objects.get(pk=obj.pk),
            data=data,
            current_password=form.cleaned_data.get("current_password"),
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting a user erases their data in a background job after a preview (delete_view);
        # Django's bulk delete would do it blindly in one request.
        actions.pop("delete_selected", None)
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """The preview of what deleting the user removes and keeps, with the two choices: delete
        (a background job) or deactivate with a reason."""
        user = self.get_object(request, unquote(object_id))
        if user is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_delete_permission(request, user):
            raise PermissionDenied
        refusal = ""
        try:
            deletion.user_deletion_check(actor=actor_from_request(request), user=user)
        except ApplicationError as exc:
            refusal = exc.message
        self_refused = bool(refusal)
        if request.method == "POST" and not self_refused:
            choice = request.POST.get("choice")
            if choice == "delete":
                job = deletion.user_deletion_request(
                    actor=actor_from_request(request),
                    user=user,
                )
                self.message_user(
                    request,
                    f"{user.email} is deactivated; their data is being deleted by job "
                    f"#{job.pk} (follow it here).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:accounts_userdeletion_change", args=[job.pk])
                )
            if choice == "deactivate":
                reason = request.POST.get("reason", "").strip()
                if not reason:
                    refusal = "Say why the account is deactivated (the reason is kept)."
                else:
                    services.user_suspend(
                        actor=actor_from_request(request),
                        user=user,
                        reason=reason,
                    )
                    self.message_user(
                        request, f"{user.email} is deactivated: {reason}", messages.SUCCESS
                    )
                    return HttpResponseRedirect(
                        reverse("admin:accounts_user_change", args=[user.pk])
                    )
        preview = deletion.user_deletion_preview(user=user)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete {user.email}?",
            "subtitle": None,
            "object": user,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "preview": preview,
            "refusal": refusal,
            "self_refused": self_refused,
            "open_job": deletion.user_deletion_open(user=user),
            "max_reason": services.MAX_DEACTIVATION_REASON_CHARS,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/user/delete_preview.html", context)

    def _each(self, request: HttpRequest, queryset: QuerySet, action: Any, done: str) -> None:
        count = 0
        for user in queryset:
            try:
                action(user)
                count += 1
            except Exception as exc:  # noqa: BLE001 - report per user, keep going
                message = getattr(exc, "message", str(exc))
                self.message_user(request, f"{user.email}: {message}", messages.ERROR)
        if count:
            self.message_user(request, f"{done}: {count} user(s).", messages.SUCCESS)

    @admin.action(description="Suspend selected users (ends their sessions)")
    def suspend_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda u: services.user_suspend(actor=actor_from_request(request), user=u),
            "Suspended",
        )

    @admin.action(description="Reactivate selected users")
    def reactivate_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda u: services.user_reactivate(actor=actor_from_request(request), user=u),
            "Reactivated",
        )

    @admin.action(description="Reset MFA of selected users")
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda u: mfa.mfa_reset(actor=actor_from_request(request), user=u),
            "MFA reset",
        )

    def _make(self, request: HttpRequest, queryset: QuerySet, role: str) -> None:
        self._each(
            request,
            queryset,
            lambda u: services.user_role_change(
                actor=actor_from_request(request), user=u, role=role
            ),
            f"Role set to {role}",
        )

    @admin.action(description="Change role to admin")
    def make_admin(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._make(request, queryset, Role.ADMIN)

    @admin.action(description="Change role to user")
    def make_user(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._make(request, queryset, Role.USER)

    @admin.action(description="Change role to viewer")
    def make_viewer(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._make(request, queryset, Role.VIEWER)
