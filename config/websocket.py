"""WebSocket front matter: which clients may open a socket, and unknown paths.

Browsers always send ``Origin`` on a WebSocket handshake, and a foreign one means another site's
page is trying to use the visitor's connection (cross-site WebSocket hijacking): refused, as
before. A client without ``Origin`` is not a browser (a script, a mobile app, a server); it has
no ambient credentials to abuse and must authenticate with a token like everyone else, so it is
let through.
"""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

from config.exceptions import error_envelope

UNKNOWN_PATH_CLOSE_CODE = 4404
WEBSOCKET_ENDPOINTS = ["/ws/chat/"]


class BrowserOriginValidator(OriginValidator):
    """``AllowedHostsOriginValidator`` for browsers; handshakes without ``Origin`` pass."""

    def __init__(self, application: Any) -> None:
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, allowed_hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if not any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Every WebSocket path no app serves: an ``error`` frame naming the endpoints, then a
    close with 4404 (instead of a failed handshake with a server-side traceback)."""

    async def connect(self) -> None:
        await self.accept()
        path = self.scope.get("path", "")
        await self.send_json(
            {
                "type": "error",
                **error_envelope(
                    message=f"No WebSocket endpoint at {path}; use {WEBSOCKET_ENDPOINTS[0]}.",
                    code="NOT_FOUND",
                    details={"path": path, "endpoints": WEBSOCKET_ENDPOINTS},
                ),
            }
        )
        await self.close(code=UNKNOWN_PATH_CLOSE_CODE)
