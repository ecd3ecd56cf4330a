"""Clean degradation while Redis (cache, throttles, channel layer) is unreachable.

* REST throttles: a read (GET, HEAD, OPTIONS) is served without its rate limit, so browsing
  keeps working; a write answers 503 ``SERVICE_UNAVAILABLE``, because it could not be counted
  (logins and codes would lose their brute-force limits and lock-out, uploads and chat their
  rate limits) and most writes need Redis anyway (broker, channel layer, shared flags).
* WebSocket: a connection whose channel layer fails gets an ``error`` frame
  ``SERVICE_UNAVAILABLE`` and a close with 4503 (try again later) instead of a bare 1011.

Nothing is cached about the outage itself: every request tries Redis again, so service comes
back by itself when Redis does.
"""

import json
from typing import Any

import structlog
from rest_framework.permissions import SAFE_METHODS

from config.exceptions import BACKEND_OUTAGE_ERRORS, backend_unavailable, error_envelope

logger = structlog.get_logger(__name__)

# Mirrors HTTP 503 the way 4401 mirrors 401 (Daphne's WebSocket stack lets an application close
# with 1000 or 3000-4999 only, so the standard 1013 "try again later" cannot be sent).
CLOSE_SERVICE_UNAVAILABLE = 4503


class CacheOutageThrottleMixin:
    """Wraps a DRF throttle's ``allow_request``: reads fail open, writes answer 503."""

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except BACKEND_OUTAGE_ERRORS as exc:
            if request.method in SAFE_METHODS:
                logger.warning(
                    "throttle_skipped_cache_unavailable",
                    scope=getattr(self, "scope", None),
                    error=type(exc).__name__,
                )
                return True
            raise backend_unavailable(exc) from exc


class ChannelLayerOutageMixin:
    """For Channels WebSocket consumers: a Redis failure ends the socket with an error frame
    and close code 4503 rather than escaping to the server (which closes with 1011)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = {"accepted": False, "closed": False}

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await super().__call__(scope, receive, tracked_send)  # type: ignore[misc]
        except BACKEND_OUTAGE_ERRORS as exc:
            if state["closed"]:
                return
            error = backend_unavailable(exc)
            envelope = error_envelope(
                message=error.message, code=error.error_code, details=error.details
            )
            frame = {"type": "error", **envelope}
            try:
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.send", "text": json.dumps(frame)})
                await send({"type": "websocket.close", "code": CLOSE_SERVICE_UNAVAILABLE})
            except Exception:  # the client may be gone already
                logger.info("websocket_outage_close_failed", exc_info=True)
