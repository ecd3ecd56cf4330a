"""The management console's site: login with the second factor, MFA rules on every page.

Installed as the default admin site (``accounts.admin_apps.ConsoleAdminConfig``), so every
``@admin.register`` and ``config/urls.py``'s ``admin.site`` use it. The rules live in
:mod:`accounts.console`; this module only adapts them to Django's admin views.
"""

from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp import login as otp_login

from accounts import console, services
from accounts.stepup import user_password_verify
from config.exceptions import ApplicationError
from core.actor import actor_from_request
from core.tenancy import platform_scope

# Set on the request by the login form, read back by the site after Django's login().
_DEVICE_ATTR = "_console_otp_device"
_RETRY_ATTR = "_console_retry_after"


class ConsoleLoginForm(AdminAuthenticationForm):
    """Email (or username), password and - for users with MFA - a TOTP or backup code."""

    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=32,
        help_text="From your authenticator app, or a backup code. Empty when two-factor "
        "authentication is off for your account.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return self.cleaned_data  # the field errors say what is missing
        try:
            user, device = console.console_login(
                identifier=username,
                password=password,
                code=self.cleaned_data.get("otp_token") or "",
                actor=actor_from_request(self.request),
            )
        except ApplicationError as exc:
            if exc.status_code == 429:
                setattr(self.request, _RETRY_ATTR, exc.details.get("retry_after"))
            raise ValidationError(exc.message, code=exc.error_code.lower()) from exc
        self.user_cache = user
        setattr(self.request, _DEVICE_ATTR, device)
        return self.cleaned_data


class ConsolePasswordChangeForm(AdminPasswordChangeForm):
    """The console's own password change: the current password is checked under the login
    lock-out and the change goes through the same service as the API (sessions end, audit)."""

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        try:
            valid = user_password_verify(
                password=old_password, actor=actor_from_request(self.request)
            )
        except ApplicationError as exc:
            raise ValidationError(exc.message, code=exc.error_code.lower()) from exc
        if not valid:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password

    def save(self, commit: bool = True) -> Any:
        services.user_password_change(
            current_password=self.cleaned_data["old_password"],
            new_password=self.cleaned_data["new_password1"],
            actor=actor_from_request(self.request),
        )
        return self.user


class ConsoleAdminSite(admin.AdminSite):
    """Django's admin site with the product's login and the second-factor rule."""

    login_form = ConsoleLoginForm
    login_template = "admin/console_login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not super().has_permission(request):
            return False
        # OTPMiddleware gives the user is_verified(): this session passed a device of theirs.
        verified = bool(getattr(user, "is_verified", lambda: False)())
        return console.console_session_allowed(
            actor=actor_from_request(request), otp_verified=verified
        )

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        """Every console page, once its permission check passed, reads every organization:
        only platform administrators get here (the named escape hatch of ``core.tenancy``)."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def across_organizations(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            with platform_scope():
                response = inner(request, *args, **kwargs)
                # A TemplateResponse renders after the view returns: still in the scope.
                if callable(getattr(response, "render", None)) and not getattr(
                    response, "is_rendered", True
                ):
                    response.render()
                return response

        return across_organizations

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        device = getattr(request, _DEVICE_ATTR, None)
        if device is not None and request.user.is_authenticated and response.status_code == 302:
            # After Django's login() (which cycles the session): mark it as past the factor.
            otp_login(request, device)
        retry_after = getattr(request, _RETRY_ATTR, None)
        if retry_after:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    def password_change(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        from django.contrib.auth.views import PasswordChangeView

        defaults: dict[str, Any] = {
            "form_class": partial(ConsolePasswordChangeForm, request=request),
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)
