"""The browser's refresh token: an HttpOnly cookie instead of a JSON field.

A browser page asks for it with the request header ``X-Refresh-Cookie: 1`` on any endpoint that
issues tokens (login, MFA, code login, password change, refresh). The answer then carries the
refresh token only in a cookie that script cannot read (``HttpOnly``), that no other site's
request carries (``SameSite=Strict``), that is sent to nothing but the refresh endpoint
(``Path=/api/v1/auth/refresh``) and, behind HTTPS, only over TLS (``Secure``). Every tab of the
browser shares it, so a second tab gets its own access token without a new login.

Refreshing (or ending) with the cookie passes Django's CSRF check (the ``csrftoken`` cookie the
chat page sets, echoed in ``X-CSRFToken``, plus the ``Origin`` check), so a cross-site form can
neither rotate nor end the session. API clients keep posting ``{"refresh": ...}`` in JSON and
never see a cookie.
"""

from typing import Any

from django.conf import settings
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework.request import Request
from rest_framework.response import Response

from config.exceptions import PermissionDeniedError

COOKIE_NAME = "aichat_refresh"
COOKIE_PATH = "/api/v1/auth/refresh"
# A readable marker beside it (no secret: just "1"), so the page only asks the refresh endpoint
# when there is a session to continue, instead of a refused request on every signed-out visit.
MARKER_NAME = "aichat_session"
OPT_IN_HEADER = "HTTP_X_REFRESH_COOKIE"


def wants_cookie(request: Request) -> bool:
    """Whether the client asked for the refresh token as a cookie."""
    return request.META.get(OPT_IN_HEADER, "").strip().lower() in {"1", "true", "yes"}


def cookie_token(request: Request) -> str | None:
    """The refresh token of the cookie, if the request carries one."""
    value = request.COOKIES.get(COOKIE_NAME, "")
    return value or None


def set_cookie(request: Request, response: Response, refresh: str) -> None:
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    response.set_cookie(
        COOKIE_NAME,
        refresh,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Strict",
    )
    response.set_cookie(
        MARKER_NAME,
        "1",
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=request.is_secure(),
        httponly=False,
        samesite="Strict",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Strict")
    response.delete_cookie(MARKER_NAME, path="/", samesite="Strict")


def _noop_view(request: Any) -> None:  # the CSRF middleware wants a view to inspect
    return None


def enforce_csrf(request: Request) -> None:
    """Django's CSRF check (token and origin) on a request authenticated by the cookie."""
    django_request = request._request
    check = CsrfViewMiddleware(lambda r: None)  # type: ignore[arg-type]
    check.process_request(django_request)
    reason = check.process_view(django_request, _noop_view, (), {})
    if reason is not None:
        raise PermissionDeniedError(
            "The refresh cookie needs the CSRF token (X-CSRFToken header) of this site.",
            code="CSRF_FAILED",
        )


def move_refresh_to_cookie(request: Request, response: Response) -> Response:
    """When the client opted in, take the refresh token out of the body into the cookie.

    The token sits at the top level (login, refresh, password change) or under ``tokens``
    (MFA enrolment completed)."""
    if not wants_cookie(request) or response.status_code >= 300:
        return response
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        return response
    holder = data.get("tokens") if isinstance(data.get("tokens"), dict) else data
    refresh = holder.pop("refresh", None)
    if refresh:
        set_cookie(request, response, refresh)
        holder["refresh_in_cookie"] = True
    return response


class RefreshCookieMixin:
    """Views that issue tokens: honour ``X-Refresh-Cookie`` on the way out."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        return move_refresh_to_cookie(request, response)
