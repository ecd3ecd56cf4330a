"""Role-based permission classes, reused by every app's views."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import Role
from accounts.services import user_require_verified


class IsAdminRole(BasePermission):
    """Only active users with the ``admin`` role."""

    message = "This action requires the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == Role.ADMIN)


class CanWriteOrReadOnly(BasePermission):
    """Everybody authenticated may read; ``viewer`` may not create, change or delete."""

    message = "Your role (viewer) can read but not create or change anything."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or user.role in (Role.ADMIN, Role.USER)


class VerifiedEmailRequired(BasePermission):
    """With ``REQUIRE_VERIFIED_EMAIL`` on, unverified users get 403 ``EMAIL_NOT_VERIFIED``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user and user.is_authenticated:
            user_require_verified(user=user)
        return True
