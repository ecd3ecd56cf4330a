"""The console's user forms: creation, and changes checked by the services before saving."""

from typing import Any

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.http import HttpRequest
from rest_framework import exceptions as drf_exceptions

from accounts import services
from accounts.models import User
from accounts.stepup import PASSWORD_INCORRECT, user_password_verify
from config.admin_mixins import form_errors_from
from config.exceptions import ApplicationError
from core.actor import actor_from_request


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
