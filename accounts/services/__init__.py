"""Account writes: registration, login, token refresh/logout, profile and admin changes.

Every front door (REST views, the admin console, management commands) calls these functions,
so a rule lives here once. MFA services are in :mod:`accounts.mfa`. One module per concern
(``registration``, ``login``, ``logout``, ``passwords``, ``users``, ``verified``); the doors
call them as ``services.<name>``, so the package exports them all.
"""

from accounts.services.errors import (
    AccountDisabledError,
    InvalidCredentialsError,
    InvalidTokenError,
)
from accounts.services.login import LoginOutcome, auth_login, login_outcome_for, user_login_complete
from accounts.services.logout import (
    access_token_revoke,
    auth_logout,
    auth_logout_all,
    auth_refresh_revoke,
    auth_token_refresh,
)
from accounts.services.passwords import (
    password_check,
    user_password_change,
    user_password_reset_by_admin,
)
from accounts.services.registration import registration_is_open, user_create, user_register
from accounts.services.users import (
    ADMIN_FIELDS,
    MAX_DEACTIVATION_REASON_CHARS,
    MAX_PREFERENCES_BYTES,
    PROFILE_FIELDS,
    user_create_by_admin,
    user_profile_update,
    user_reactivate,
    user_role_change,
    user_suspend,
    user_update,
    user_update_check,
)
from accounts.services.verified import EmailNotVerifiedError, user_require_verified

__all__ = [
    "ADMIN_FIELDS",
    "MAX_DEACTIVATION_REASON_CHARS",
    "MAX_PREFERENCES_BYTES",
    "PROFILE_FIELDS",
    "AccountDisabledError",
    "EmailNotVerifiedError",
    "InvalidCredentialsError",
    "InvalidTokenError",
    "LoginOutcome",
    "access_token_revoke",
    "auth_login",
    "auth_logout",
    "auth_logout_all",
    "auth_refresh_revoke",
    "auth_token_refresh",
    "login_outcome_for",
    "password_check",
    "registration_is_open",
    "user_create",
    "user_create_by_admin",
    "user_login_complete",
    "user_password_change",
    "user_password_reset_by_admin",
    "user_profile_update",
    "user_reactivate",
    "user_register",
    "user_require_verified",
    "user_role_change",
    "user_suspend",
    "user_update",
    "user_update_check",
]
