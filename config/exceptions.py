"""One error envelope for every API error, REST and WebSocket alike.

``{"success": false, "message": str, "code": str, "details": {}, "timestamp": float,
"request_id": str}``. Services raise :class:`ApplicationError` (or a subclass) with a stable
``code``; DRF and Django exceptions are mapped here, so a view never builds an error by hand.
"""

import time
from typing import Any

import kombu.exceptions
import redis.exceptions
import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = structlog.get_logger(__name__)

STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is invalid."),
    401: (
        "AUTHENTICATION_REQUIRED",
        "Authentication credentials were not provided or are invalid.",
    ),
    403: ("PERMISSION_DENIED", "You do not have permission to perform this action."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed."),
    406: ("NOT_ACCEPTABLE", "The requested response format is not available."),
    409: ("CONFLICT", "The request conflicts with the current state."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type."),
    429: ("RATE_LIMITED", "Too many requests."),
    500: ("INTERNAL_ERROR", "An internal error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


class ApplicationError(exceptions.APIException):
    """A business-rule failure with a stable machine-readable code.

    Raised by services and selectors; rendered as the envelope by the REST handler and by the
    WebSocket consumer.
    """

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "BAD_REQUEST"
    default_detail = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message or self.default_detail)
        self.message = str(message or self.default_detail)
        self.error_code = code or self.default_code
        self.details = details or {}
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "NOT_FOUND"
    default_detail = "Not found."


class PermissionDeniedError(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "PERMISSION_DENIED"
    default_detail = "You do not have permission to perform this action."


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "CONFLICT"
    default_detail = "The request conflicts with the current state."


class PayloadTooLargeError(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "PAYLOAD_TOO_LARGE"
    default_detail = "The request body is too large."


class RateLimitedError(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "RATE_LIMITED"
    default_detail = "Too many requests."


class ServiceUnavailableError(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "SERVICE_UNAVAILABLE"
    default_detail = "The service is temporarily unavailable. Try again shortly."


# Redis (cache, throttles, channel layer) or the Celery broker cannot be reached. Requests that
# truly need them answer 503 SERVICE_UNAVAILABLE with Retry-After, never a 500; redis-py and
# kombu reconnect on the next call, so service resumes without a restart once Redis is back.
BACKEND_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
OUTAGE_RETRY_AFTER_SECONDS = 5


def backend_unavailable(exc: BaseException | None = None) -> ServiceUnavailableError:
    """The 503 answered while Redis or the broker is unreachable (no internals shown)."""
    logger.warning("backend_unavailable", error=type(exc).__name__ if exc is not None else None)
    return ServiceUnavailableError(
        "A backing service (Redis) is unavailable. Try again shortly.",
        details={"retry_after": OUTAGE_RETRY_AFTER_SECONDS},
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
    )


def current_request_id() -> str:
    """The request id bound to the current context (HTTP request, socket frame or task)."""
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


def error_envelope(
    *,
    message: str,
    code: str,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Build the error body shared by REST responses and WebSocket ``error`` frames."""
    return {
        "success": False,
        "message": message,
        "code": code,
        "details": details or {},
        "timestamp": time.time(),
        "request_id": request_id if request_id is not None else current_request_id(),
    }


def _flatten_detail(detail: Any) -> Any:
    """Turn DRF ErrorDetail trees into plain JSON (lists of strings under field names)."""
    if isinstance(detail, dict):
        return {str(k): _flatten_detail(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten_detail(v) for v in detail]
    return str(detail)


def _validation_message(details: dict[str, Any]) -> str:
    if list(details.keys()) == ["non_field_errors"] and details["non_field_errors"]:
        first = details["non_field_errors"][0]
        return str(first)
    return "Invalid input."


def exception_to_envelope(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Map any exception to (status, envelope, extra headers). Unknown ones become a bare 500."""
    headers: dict[str, str] = {}
    if isinstance(exc, BACKEND_OUTAGE_ERRORS):
        exc = backend_unavailable(exc)
    if isinstance(exc, ApplicationError):
        return (
            exc.status_code,
            error_envelope(message=exc.message, code=exc.error_code, details=exc.details),
            dict(exc.headers),
        )
    if isinstance(exc, (Http404, exceptions.NotFound)):
        code, message = STATUS_CODES[404]
        return 404, error_envelope(message=message, code=code), headers
    if isinstance(exc, DjangoPermissionDenied):
        code, message = STATUS_CODES[403]
        return 403, error_envelope(message=message, code=code), headers
    if isinstance(exc, (RequestDataTooBig,)):
        code, message = STATUS_CODES[413]
        return 413, error_envelope(message=message, code=code), headers
    if isinstance(exc, TooManyFieldsSent):
        return 400, error_envelope(message="Too many fields.", code="VALIDATION_ERROR"), headers
    if isinstance(exc, DjangoValidationError):
        details = _flatten_detail(as_serializer_error(exc))
        return (
            400,
            error_envelope(
                message=_validation_message(details), code="VALIDATION_ERROR", details=details
            ),
            headers,
        )
    if isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        default_code, default_message = STATUS_CODES.get(
            status_code, ("ERROR", "The request failed.")
        )
        details: dict[str, Any] = {}
        if isinstance(exc, exceptions.ValidationError):
            flat = _flatten_detail(exc.detail)
            details = flat if isinstance(flat, dict) else {"non_field_errors": flat}
            message = _validation_message(details)
            code = "VALIDATION_ERROR"
        else:
            message = (
                str(exc.detail) if not isinstance(exc.detail, (dict, list)) else default_message
            )
            code = default_code
            if isinstance(exc, exceptions.NotAuthenticated):
                code = "AUTHENTICATION_REQUIRED"
            elif isinstance(exc, exceptions.AuthenticationFailed):
                code = "AUTHENTICATION_FAILED"
                if isinstance(exc.detail, dict) and "code" in exc.detail:
                    details = {"reason": str(exc.detail["code"])}
                    message = str(exc.detail.get("detail", message))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            retry_after = max(1, int(exc.wait + 0.999))
            headers["Retry-After"] = str(retry_after)
            details = {"retry_after": retry_after}
            message = f"Too many requests. Try again in {retry_after} seconds."
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        return status_code, error_envelope(message=message, code=code, details=details), headers
    code, message = STATUS_CODES[500]
    return 500, error_envelope(message=message, code=code), headers


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every API error leaves in the envelope.

    Unexpected exceptions return ``None`` so Django's 500 path (``handler500`` below) logs the
    traceback once with the request id and answers with the bare envelope.
    """
    if not isinstance(
        exc,
        (
            exceptions.APIException,
            Http404,
            DjangoPermissionDenied,
            RequestDataTooBig,
            TooManyFieldsSent,
            DjangoValidationError,
            *BACKEND_OUTAGE_ERRORS,
        ),
    ):
        return None
    status_code, body, headers = exception_to_envelope(exc)
    if status_code == 401:
        # DRF needs a WWW-Authenticate header for a 401; supply one if the exception had none.
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    response = Response(body, status=status_code, headers=headers)
    request = context.get("request")
    if request is not None and status_code >= 400:
        logger.info("api_error", status=status_code, code=body["code"])
    return response


def _wants_json(request: HttpRequest) -> bool:
    return (
        request.path.startswith("/api/")
        or request.path.startswith("/health")
        or "application/json" in request.headers.get("Accept", "")
    )


def json_error_response(request: HttpRequest, status_code: int) -> JsonResponse:
    code, message = STATUS_CODES[status_code]
    return JsonResponse(error_envelope(message=message, code=code), status=status_code)


def handler404(request: HttpRequest, exception: Exception | None = None):
    """Unknown routes: the envelope under /api/, Django's page elsewhere."""
    if _wants_json(request):
        return json_error_response(request, 404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    """A 500 reveals nothing internal; the traceback is logged by the request middleware."""
    if _wants_json(request):
        return json_error_response(request, 500)
    from django.views.defaults import server_error

    return server_error(request)


def handler403(request: HttpRequest, exception: Exception | None = None):
    if _wants_json(request):
        return json_error_response(request, 403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler400(request: HttpRequest, exception: Exception | None = None):
    if _wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            return json_error_response(request, 413)
        return json_error_response(request, 400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
