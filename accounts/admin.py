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
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import apikeys, mfa, mfa_state, services
from accounts.models import ApiKey, RevokedAccessToken, Role, User
from accounts.stepup import PASSWORD_INCORRECT, user_password_verify
from config.exceptions import ApplicationError

# django-otp's device admins show TOTP secrets (and let anyone with the console copy a user's
# second factor). Devices are managed through the user: the "MFA" column and the audited
# "Reset MFA" action below.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


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
        if "email" in self.changed_data and request is not None:
            try:
                valid = user_password_verify(
                    user=request.user,  # type: ignore[arg-type]
                    password=cleaned.get("current_password") or "",
                    purpose="email_change",
                    request=request,
                )
            except ApplicationError as exc:  # locked out: shown on the form, not a 500
                raise forms.ValidationError(exc.message) from exc
            if not valid:
                self.add_error("current_password", PASSWORD_INCORRECT)
        return cleaned


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
    readonly_fields = ("last_login", "created_at", "mfa_on")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("email", "current_password", "username", "full_name", "password")}),
        ("Access", {"fields": ("role", "is_active", "is_verified", "mfa_on")}),
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
                services.user_password_reset_by_admin(
                    actor=request.user, user=user, request=request
                )
        return response

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Role and active flag go through the services (sessions end, audit lines).
        changed = set(form.changed_data)
        role = obj.role
        is_active = obj.is_active
        original = User.objects.get(pk=obj.pk)
        obj.role, obj.is_active = original.role, original.is_active
        super().save_model(request, obj, form, change)
        try:
            if "role" in changed:
                services.user_role_change(actor=request.user, user=obj, role=role, request=request)
            if "is_active" in changed:
                if is_active:
                    services.user_reactivate(actor=request.user, user=obj, request=request)
                else:
                    services.user_suspend(actor=request.user, user=obj, request=request)
        except Exception as exc:  # noqa: BLE001 - shown to the admin instead of a 500
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)

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
            lambda u: services.user_suspend(actor=request.user, user=u, request=request),
            "Suspended",
        )

    @admin.action(description="Reactivate selected users")
    def reactivate_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda u: services.user_reactivate(actor=request.user, user=u, request=request),
            "Reactivated",
        )

    @admin.action(description="Reset MFA of selected users")
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda u: mfa.mfa_reset(actor=request.user, user=u, request=request),
            "MFA reset",
        )

    def _make(self, request: HttpRequest, queryset: QuerySet, role: str) -> None:
        self._each(
            request,
            queryset,
            lambda u: services.user_role_change(
                actor=request.user, user=u, role=role, request=request
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
            apikeys.api_key_revoke(key=key, actor=request.user, request=request)
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
