"""The management console's session, accepted by the HTML browsable API only.

JSON clients authenticate with a bearer token or an API key; a cookie must never authenticate
them (that would make every JSON endpoint reachable by cross-site requests carrying the
cookie). The browsable API, though, is a page an admin opens next to the console: for requests
that DRF answers with its HTML renderer, the Django session counts, with DRF's CSRF check on
every unsafe method. A user with MFA must have passed it in the console (django-otp's
``is_verified``).
"""

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request

from accounts.mfa_state import user_has_mfa


class BrowsableApiSessionAuthentication(SessionAuthentication):
    """Session authentication (with CSRF) for requests rendered as the browsable API."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        if not isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            return None
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        django_user = getattr(request._request, "user", None)
        otp_verified = getattr(django_user, "is_verified", None)
        if user_has_mfa(user=user) and not (callable(otp_verified) and otp_verified()):
            return None
        return result
