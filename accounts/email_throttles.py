"""Throttles of the endpoints that send mail: per target address and per client IP.

Every mail-sending endpoint (forgot password, verification request, sign-in code) shares the
two budgets, so nobody can flood one mailbox, and one IP cannot spray many mailboxes. The key
is a digest of the address, never the address itself, and is the same whether or not an
account exists (no enumeration through 429s).
"""

from typing import Any

from rest_framework.request import Request

from accounts.throttles import DEFAULT_THROTTLES, LOGIN_THROTTLES, _digest, _SettingsRateThrottle


class AccountEmailThrottle(_SettingsRateThrottle):
    """Mails per address: the ``email`` in the body, or the caller's own address."""

    scope = "account_email"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return self.ident_key(_digest(user.email))
        try:
            email = request.data.get("email")
        except Exception:  # noqa: BLE001 - a malformed body is the serializer's problem
            return None
        if not email or not isinstance(email, str):
            return None
        return self.ident_key(_digest(email))


class AccountEmailIPThrottle(_SettingsRateThrottle):
    """Mails requested per client IP."""

    scope = "account_email_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.ident_key(self.get_ident(request))


EMAIL_THROTTLES = [*DEFAULT_THROTTLES, AccountEmailIPThrottle, AccountEmailThrottle]
# Checking a code or a reset token is a login attempt: the login budgets apply.
CODE_VERIFY_THROTTLES = LOGIN_THROTTLES
