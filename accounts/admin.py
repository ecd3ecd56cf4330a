"""The management console for users: list, filters, search and the account actions.

Every action calls the same service the API uses (suspension ends sessions, role changes are
audited, MFA reset removes devices), so the console never bypasses a rule.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework import exceptions as drf_exceptions
from rest_framework_simplejwt.token_blacklist.admin import BlacklistedTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts import apikeys, deletion, mfa, mfa_state, services
from accounts.models import ApiKey, RevokedAccessToken, Role, User, UserDeletion, UserDeletionStatus
from accounts.stepup import PASSWORD_INCORRECT, user_password_verify
from config.admin_mixins import ReadOnlyAdminMixin, form_errors_from
from config.exceptions import ApplicationError
from core.actor import actor_from_request

# django-otp's device admins show TOTP secrets (and let anyone with the console copy a user's
# second factor). Devices are managed through the user: the "MFA" column and the audited
# "Reset MFA" action below.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)

# Permission groups mean nothing here (the role decides; admins are superusers), and editing
# them would be a console change outside every service and the audit trail.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)

# simplejwt's blacklist admin lets anyone add or edit blacklist rows by hand, unaudited:
# sessions end through the services (suspension, "log out everywhere"); here they are records.
if admin.site.is_registered(BlacklistedToken):
    admin.site.unregister(BlacklistedToken)


@admin.register(BlacklistedToken)
class BlacklistedTokenRecordAdmin(ReadOnlyAdminMixin, BlacklistedTokenAdmin):
    """Ended refresh tokens, read-only."""


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


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username", "full_name", "role")


class UserChangeForm(DjangoUserChangeForm):
    """Shows the password as a hash summary with a link to the set-password form.

    Changing the email address needs the acting admin's current password, as on the API
    (``user_update``): password resets and sign-in codes go to that address, so a hijacked
    console session must not be able to redirect them.
    """

    current_password = forms.CharField(
        label="Your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to change the email address.",
    )
    console_request: HttpRequest | None = None

    class Meta:
        model = User
        fields = ("email", "username", "full_name", "password", "role", "is_active", "is_verified")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        request = self.console_request
        if request is not None and self.instance.pk is not None:
            # The API's rules (own role, own suspension) before anything is saved: a refused
            # change is one error on the form, never a save followed by "changed successfully".
            try:
                services.user_update_check(
                    actor=actor_from_request(request),
                    user=User.objects.get(pk=self.instance.pk),
                    data={f: cleaned[f] for f in ("role", "is_active") if f in self.changed_data},
                )
            except ApplicationError as exc:
                form_errors_from(self, exc)
                return cleaned
            except drf_exceptions.ValidationError as exc:
                form_errors_from(self, exc)
                return cleaned
        if "email" in self.changed_data and request is not None:
            try:
                valid = user_password_verify(
                    password=cleaned.get("current_password") or "",
                    purpose="email_change",
                    actor=actor_from_request(request),
                )
            except ApplicationError as exc:  # locked out: shown on the form, not a 500
                raise forms.ValidationError(exc.message) from exc
            if not valid:
                self.add_error("current_password", PASSWORD_INCORRECT)
        return cleaned


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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """See every personal API key (never a secret: only its hash is stored) and revoke them."""

    list_display = ("name", "prefix", "user", "scopes", "created_at", "last_used_at", "expires_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "organization")
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


@admin.register(UserDeletion)
class UserDeletionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Deletion jobs (``accounts.deletion``): what the preview promised and what is gone so far.

    Started from a user's "Delete" page; a failed job is retried from where it stopped."""

    list_display = ["created_at", "user_label", "status", "step", "requested_by", "finished_at"]
    list_filter = ["status"]
    search_fields = ["user_label"]
    list_select_related = ["requested_by"]
    ordering = ["-created_at"]
    actions = ["retry_jobs"]
    fields = [
        "user_label",
        "status",
        "step",
        "preview_table",
        "removed_table",
        "attempts",
        "error",
        "requested_by",
        "created_at",
        "heartbeat_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description="Preview (at request)")
    def preview_table(self, job: UserDeletion) -> str:
        removed = job.preview.get("removed", {})
        kept = job.preview.get("kept", {})
        lines = [f"{label}: {count}" for label, count in removed.items()]
        lines += [f"kept - {label}: {count}" for label, count in kept.items()]
        return "; ".join(lines) or "-"

    @admin.display(description="Done so far")
    def removed_table(self, job: UserDeletion) -> str:
        return "; ".join(f"{key}: {count}" for key, count in job.removed.items()) or "-"

    @admin.action(description="Retry selected failed deletions")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for job in queryset.filter(status=UserDeletionStatus.FAILED):
            deletion.user_deletion_retry(actor=actor_from_request(request), job=job)
            retried += 1
        self.message_user(request, f"Queued {retried} deletion(s) again.", messages.SUCCESS)
