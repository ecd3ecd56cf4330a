"""WebSocket front matter: which clients may open a socket, and unknown paths.

Browsers always send ``Origin`` on a WebSocket handshake, and a foreign one means another site's
page is trying to use the visitor's connection (cross-site WebSocket hijacking): refused, as
before. A client without ``Origin`` is not a browser (a script, a mobile app, a server); it has
no ambient credentials to abuse and must authenticate with a token like everyone else, so it is
let through.
"""

import json
from typing import Any
from urllib.parse import urlparse

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
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        if not origins:
            return await self.application(scope, receive, send)
        try:
            parsed = urlparse(origins[-1].decode("latin1"))
        except UnicodeDecodeError:
            parsed = None
        if self.valid_origin(parsed):
            return await self.application(scope, receive, send)
        await _refuse(receive, send)


# Refused and unknown-path sockets are answered by these bare ASGI functions rather than
# consumers: a consumer subscribes to the channel layer (on Redis, a blocking read that holds a
# pooled connection) and lives until the client's disconnect arrives, which a refused client
# may never send.


async def _refuse(receive: Any, send: Any) -> None:
    """Reject the handshake (HTTP 403 to the client) and return at once."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


async def unknown_path(scope: dict, receive: Any, send: Any) -> None:
    """Every WebSocket path no app serves: an ``error`` frame naming the endpoints, then a
    close with 4404 (instead of a failed handshake with a server-side traceback)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    path = scope.get("path", "")
    frame = {
        "type": "error",
        **error_envelope(
            message=f"No WebSocket endpoint at {path}; use {WEBSOCKET_ENDPOINTS[0]}.",
            code="NOT_FOUND",
            details={"path": path, "endpoints": WEBSOCKET_ENDPOINTS},
        ),
    }
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(frame)})
    await send({"type": "websocket.close", "code": UNKNOWN_PATH_CLOSE_CODE})
