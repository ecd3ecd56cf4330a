"""The browser chat page at ``/`` (one template; the rest is static JS over the API), and the
answer to unknown ``/api/`` paths."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from config.exceptions import STATUS_CODES, error_envelope


def _content_security_policy(request: HttpRequest) -> str:
    """A strict policy: our own scripts and styles only, no inline code, no remote content.

    The WebSocket origin is listed explicitly because older browsers do not match ``ws:`` and
    ``wss:`` against ``'self'``.
    """
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # data: only for the MFA QR code, which is rendered as an <img> (scripts in an SVG
            # loaded as an image never run).
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' ws://{host} wss://{host}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            "manifest-src 'self'",
        ]
    )


@require_safe
@never_cache
@xframe_options_deny
def chat_page(request: HttpRequest) -> HttpResponse:
    """Serve the single-page chat client (login, chats, documents, usage, settings)."""
    # The CSRF cookie the page echoes when it refreshes or ends its session with the HttpOnly
    # refresh cookie (accounts.api.refresh_cookie).
    get_token(request)
    response = render(request, "chat/index.html", {"project_name": settings.PROJECT_NAME})
    response["Content-Security-Policy"] = _content_security_policy(request)
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Referrer-Policy"] = "same-origin"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    return response


_FAVICON = settings.BASE_DIR / "static" / "chat" / "favicon.ico"


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: browsers ask for it on every page that names no icon (the console,
    the API docs), and a 404 there is noise in every console."""
    response = HttpResponse(_FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _other_slash_form(path: str) -> str | None:
    """``path`` with its trailing slash added or removed, when that form is a real route."""
    other = path[:-1] if path.endswith("/") else path + "/"
    try:
        match = resolve(other)
    except Resolver404:
        return None
    return None if match.func is api_not_found else other


@csrf_exempt  # it changes nothing; a POST must get the envelope, not a CSRF page
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Unknown paths under ``/api/``: the 404 envelope, in every mode (DEBUG included).

    The API has one URL style, no trailing slash. A path asked in the other form is answered
    with a permanent redirect for GET/HEAD, and for other methods with a 404 envelope naming
    the right path (never a silent success: a DELETE to the wrong form must not look done).
    """
    other = _other_slash_form(request.path)
    if other is not None and request.method in ("GET", "HEAD"):
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(other + (f"?{query}" if query else ""))
    code, message = STATUS_CODES[404]
    details: dict[str, str] = {}
    if other is not None:
        message = f"Not found. Did you mean {other}? API paths have no trailing slash."
        details = {"path": other}
    return JsonResponse(error_envelope(message=message, code=code, details=details), status=404)


# Console pages of models that moved app when ``ai`` was carved (issue 14): old bookmarks land
# on the new pages. Only safe methods: a form posted to an old address is not replayed.
MOVED_ADMIN_PAGES = {
    "ai/document": "documents/document",
    "ai/usagerecord": "metering/usagerecord",
    "ai/quota": "metering/quota",
    "accounts/auditevent": "ops/auditevent",
    "accounts/featureflag": "ops/featureflag",
}
MOVED_ADMIN_PATTERN = r"^admin/(?P<old>ai/(?:document|usagerecord|quota)|accounts/(?:auditevent|featureflag))/(?P<rest>.*)$"  # noqa: E501


@require_safe
def moved_admin_page(request: HttpRequest, old: str, rest: str) -> HttpResponse:
    """Redirect ``/admin/<old app>/<model>/...`` to the same page under the model's new app."""
    target = f"/admin/{MOVED_ADMIN_PAGES[old]}/{rest}"
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
