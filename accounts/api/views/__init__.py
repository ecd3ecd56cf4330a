"""Auth and users endpoints: thin doors over accounts.services, accounts.mfa and selectors."""

from accounts.api.views.auth import (
    LoginView,
    LogoutAllView,
    LogoutView,
    MfaBackupCodesView,
    MfaConfirmView,
    MfaDisableView,
    MfaEnableView,
    MfaVerifyView,
    RefreshView,
    RegisterView,
)
from accounts.api.views.users import (
    MeView,
    PasswordChangeView,
    UserDetailView,
    UserListView,
    UserReactivateView,
    UserSuspendView,
)

__all__ = [
    "LoginView",
    "LogoutAllView",
    "LogoutView",
    "MeView",
    "MfaBackupCodesView",
    "MfaConfirmView",
    "MfaDisableView",
    "MfaEnableView",
    "MfaVerifyView",
    "PasswordChangeView",
    "RefreshView",
    "RegisterView",
    "UserDetailView",
    "UserListView",
    "UserReactivateView",
    "UserSuspendView",
]
