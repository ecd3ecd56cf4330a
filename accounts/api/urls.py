"""Routes under /api/v1/: ``auth/...`` and ``users/...``."""

from django.urls import path

from accounts.api import views
from accounts.api.views import apikeys, deletion, lifecycle

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path(
        "auth/email/verify/request",
        lifecycle.EmailVerifyRequestView.as_view(),
        name="auth-email-verify-request",
    ),
    path("auth/email/verify", lifecycle.EmailVerifyView.as_view(), name="auth-email-verify"),
    path(
        "auth/password/forgot", lifecycle.PasswordForgotView.as_view(), name="auth-password-forgot"
    ),
    path("auth/password/reset", lifecycle.PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/change", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/code/request", lifecycle.CodeRequestView.as_view(), name="auth-code-request"),
    path("auth/code/verify", lifecycle.CodeVerifyView.as_view(), name="auth-code-verify"),
    path("auth/mfa/verify", views.MfaVerifyView.as_view(), name="auth-mfa-verify"),
    path("auth/mfa/enable", views.MfaEnableView.as_view(), name="auth-mfa-enable"),
    path("auth/mfa/confirm", views.MfaConfirmView.as_view(), name="auth-mfa-confirm"),
    path("auth/mfa/disable", views.MfaDisableView.as_view(), name="auth-mfa-disable"),
    path("auth/mfa/backup-codes", views.MfaBackupCodesView.as_view(), name="auth-mfa-backup-codes"),
    path("users", views.UserListView.as_view(), name="user-list"),
    path("users/me", views.MeView.as_view(), name="user-me"),
    path("users/me/api-keys", apikeys.ApiKeyListCreateView.as_view(), name="user-api-keys"),
    path(
        "users/me/api-keys/<int:key_id>",
        apikeys.ApiKeyDetailView.as_view(),
        name="user-api-key-detail",
    ),
    path("users/me/password", views.PasswordChangeView.as_view(), name="user-password"),
    path("users/<int:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<int:user_id>/suspend", views.UserSuspendView.as_view(), name="user-suspend"),
    path(
        "users/<int:user_id>/deletion",
        deletion.UserDeletionView.as_view(),
        name="user-deletion",
    ),
    path(
        "users/<int:user_id>/reactivate",
        views.UserReactivateView.as_view(),
        name="user-reactivate",
    ),
]
