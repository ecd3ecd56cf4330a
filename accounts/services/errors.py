"""The errors of the account services that their doors answer as they are."""

from config.exceptions import ApplicationError


class InvalidCredentialsError(ApplicationError):
    """Same status and body for an unknown account and a wrong password (no enumeration)."""

    status_code = 401
    default_code = "INVALID_CREDENTIALS"
    default_detail = "Invalid email or password."


class InvalidTokenError(ApplicationError):
    status_code = 401
    default_code = "INVALID_TOKEN"
    default_detail = "Token is invalid, expired or already used."


class AccountDisabledError(ApplicationError):
    status_code = 403
    default_code = "ACCOUNT_DISABLED"
    default_detail = "This account is suspended. Contact an administrator."
