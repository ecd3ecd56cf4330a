"""Request context middleware: request id, body-size limit, access log and HTTP metrics."""

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from config.asgi_middleware import request_body_limit, sane_request_id
from config.exceptions import json_error_response
from config.metrics import HTTP_LATENCY, HTTP_REQUESTS
from core.tenancy import activate as tenancy_activate
from core.tenancy import restore as tenancy_restore

logger = structlog.get_logger("access")

_QUIET_PATHS = frozenset({"/health", "/metrics"})
# The request being served, for code that builds absolute links (e.g. account emails) and is
# not handed the request. Copied into the thread of a sync view like any context variable.
current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)


def request_id_from(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    return sane_request_id(request.headers.get("X-Request-ID", ""))


def _too_large(request: HttpRequest) -> bool:
    """A declared length over the path's limit (WSGI servers; ASGI is guarded before Django)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > request_body_limit(request.path)


class RequestContextMiddleware:
    """Binds ``request_id`` (and later ``user_id``) to every log line of the request.

    Emits one access line per request with method, route, status, duration_ms, user_id and
    request_id, and records the Prometheus request metrics under the route *pattern*, so ids in
    paths do not explode the label set.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ):
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        # No organization and no platform scope until this request's door resolves one: a
        # WSGI thread must not carry the previous request's (nor a test's) into this one.
        tenancy = tenancy_activate(None)
        try:
            started = self._start(request)
            response = self._early_response(request) or self.get_response(request)
            return self._finish(request, response, started)
        finally:
            tenancy_restore(tenancy)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        tenancy = tenancy_activate(None)
        try:
            started = self._start(request)
            response = self._early_response(request) or await self.get_response(request)
            return self._finish(request, response, started)
        finally:
            tenancy_restore(tenancy)

    @staticmethod
    def _start(request: HttpRequest) -> float:
        structlog.contextvars.clear_contextvars()
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        current_request.set(request)
        return time.perf_counter()

    @staticmethod
    def _early_response(request: HttpRequest) -> HttpResponse | None:
        if _too_large(request):
            return json_error_response(request, 413)
        return None

    @staticmethod
    def _finish(request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        duration = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None else "<unmatched>"
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
        if user_id is not None:
            structlog.contextvars.bind_contextvars(user_id=user_id)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        HTTP_LATENCY.labels(route, request.method).observe(duration)
        if request.path not in _QUIET_PATHS or response.status_code >= 400:
            log = logger.warning if response.status_code >= 500 else logger.info
            log(
                "request",
                method=request.method,
                path=request.path,
                route=route,
                status=response.status_code,
                duration_ms=round(duration * 1000, 2),
                user_id=user_id,
            )
        structlog.contextvars.clear_contextvars()
        current_request.set(None)
        return response
