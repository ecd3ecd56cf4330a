"""Admin building blocks shared by every app's console pages."""

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """A record the console shows but never adds, edits or deletes (usage, audit trail)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
