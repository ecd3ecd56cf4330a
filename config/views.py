"""The browser chat page at ``/``: one template; everything else is static JS over the API."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_safe


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
    response = render(request, "chat/index.html", {"project_name": settings.PROJECT_NAME})
    response["Content-Security-Policy"] = _content_security_policy(request)
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Referrer-Policy"] = "same-origin"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    return response
