"""Admin building blocks shared by every app's console pages."""

from typing import Any

from django import forms
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError as DrfValidationError


class ReadOnlyAdminMixin:
    """A record the console shows but never adds, edits or deletes (usage, audit trail)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def form_errors_from(form: forms.BaseForm, exc: Exception) -> None:
    """Put a service's refusal on a console form (on the fields it names, else the form).

    Forms call the service's checks in ``clean()``, so a refused change is shown once, in the
    API's words, and never saved nor reported as "changed successfully"."""
    detail = getattr(exc, "detail", None)
    if isinstance(exc, DrfValidationError) and isinstance(detail, dict):
        for field, errors in detail.items():
            texts = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
            form.add_error(field if field in form.fields else None, texts)
        return
    form.add_error(None, str(getattr(exc, "message", None) or exc))
