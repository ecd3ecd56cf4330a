"""DRF permission classes over :mod:`core.policies`, reused by every app's views."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core import policies
from core.actor import actor_from_request


class IsAdminRole(BasePermission):
    """Only users whose current role is ``admin``."""

    message = "This action requires the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return policies.is_admin(actor_from_request(request))


class CanWriteOrReadOnly(BasePermission):
    """Everybody authenticated may read; ``viewer`` may not create, change or delete."""

    message = "Your role (viewer) can read but not create or change anything."

    def has_permission(self, request: Request, view: Any) -> bool:
        actor = actor_from_request(request)
        if not actor.is_authenticated:
            return False
        return request.method in SAFE_METHODS or policies.can_write(actor)


class VerifiedEmailRequired(BasePermission):
    """With ``REQUIRE_VERIFIED_EMAIL`` on, unverified users get 403 ``EMAIL_NOT_VERIFIED``.

    For doors whose every operation needs it (``/v1/``, ``/ai/generate``); the rule itself
    is the service check :func:`accounts.services.user_require_verified`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        from accounts.services import user_require_verified

        actor = actor_from_request(request)
        if actor.is_authenticated:
            user_require_verified(actor=actor)
        return True
