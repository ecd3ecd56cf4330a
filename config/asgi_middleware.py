"""ASGI middleware in front of Django and Channels: body limits and the WebSocket access line.

Request-body limits are enforced before a body is buffered.
Django's ASGI handler reads the whole body into a spooled file before any middleware runs, so a
limit checked in Django middleware comes after the bytes were received. The ASGI guard below sits
in front of it: a declared ``Content-Length`` above the limit is answered 413 without reading a
byte, and a streamed (chunked) body is counted as it arrives and cut off the moment it passes the
limit. The embedded server (uvicorn, see ``config.serve``) reads the socket only as fast as the
application asks, so nothing past the limit is held in memory.
"""

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from django.conf import settings

from config.exceptions import STATUS_CODES, error_envelope

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Room for the multipart boundaries and part headers around an uploaded file.
MULTIPART_OVERHEAD = 1024 * 1024
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_logger = structlog.get_logger("access")


def sane_request_id(incoming: str) -> str:
    """The caller's request id when it is a sane token, else a fresh one."""
    return incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def request_body_limit(path: str) -> int:
    """Largest body accepted on ``path``: uploads routes get the document limit, others 1 MB."""
    small = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    large = int(settings.DOCUMENT_MAX_UPLOAD_BYTES) + MULTIPART_OVERHEAD
    if small is None:  # Django's "no limit" still gets a bound here
        return large
    if any(re.match(pattern, path) for pattern in settings.LARGE_BODY_PATHS):
        return max(int(small), large)
    return int(small)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return value.decode("latin-1")
    return ""


class RequestBodyLimitMiddleware:
    """ASGI guard: 413 in the error envelope for bodies over :func:`request_body_limit`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = request_body_limit(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        await self._refuse(scope, send, limit)
                    # The application sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 is the answer; the application's own is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        request_id = sane_request_id(_header(scope, b"x-request-id"))
        code, message = STATUS_CODES[413]
        body = error_envelope(
            message=message,
            code=code,
            details={"max_bytes": limit},
            request_id=request_id,
        )
        payload = json.dumps(body, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        access_logger.info(
            "request",
            method=scope.get("method"),
            path=scope["path"],
            route="<body limit>",
            status=413,
            request_id=request_id,
        )


class WebSocketAccessLogMiddleware:
    """The project's access line for WebSockets, as ``RequestContextMiddleware`` is for HTTP.

    The servers' own lines print the path with its query string (``/ws/chat/?token=...``); they
    are switched off (``config.serve``, ``LOGGING``) in favour of these two lines: the handshake's
    outcome and the close, with the path only.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = sane_request_id(_header(scope, b"x-request-id"))
        client = scope.get("client") or (None, None)
        state: dict[str, Any] = {"accepted": False, "close_code": None}
        log = access_logger.bind(path=scope["path"], client=client[0], request_id=request_id)

        async def logged_send(message: Message) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
                log.info("websocket", status="accepted")
            elif message["type"] == "websocket.close":
                if not state["accepted"]:
                    log.info("websocket", status="rejected")
                state["close_code"] = message.get("code", 1000)
            await send(message)

        async def logged_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect" and state["close_code"] is None:
                state["close_code"] = message.get("code")
            return message

        try:
            await self.app(scope, logged_receive, logged_send)
        finally:
            if state["accepted"]:
                log.info(
                    "websocket_closed",
                    close_code=state["close_code"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
