"""Errors of the OpenAI-compatible door, in OpenAI's shape
(``{"error": {message, type, code, param}}``)."""

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response

from ai.providers import ProviderError
from config.exceptions import exception_to_envelope

_TYPES = {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error"}
# Upstream failures: what the caller may do about them.
_PROVIDER_STATUS = {"rate_limited": 503, "timeout": 504, "provider_disabled": 503}


def openai_error(
    *,
    status: int,
    message: str,
    code: str | None,
    type_: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if type_ is None:
        type_ = "server_error" if status >= 500 else _TYPES.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return Response(body, status=status, headers=headers or {})


def provider_error(exc: ProviderError) -> Response:
    if exc.kind == "model_not_allowed":
        return openai_error(
            status=404,
            message=f"{exc} Call GET /v1/models for the models you may use.",
            code="model_not_found",
            param="model",
        )
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return openai_error(
        status=_PROVIDER_STATUS.get(exc.kind, 502),
        message=str(exc),
        code=exc.kind,
        headers=headers,
    )


def _first_param(details: dict[str, Any]) -> str | None:
    for key in details:
        if key != "non_field_errors":
            return key
    return None


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """This door's ``EXCEPTION_HANDLER``: the product's errors in OpenAI's shape."""
    if isinstance(exc, ProviderError):
        return provider_error(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # Django's 500 path logs it once and answers
    status, envelope, headers = exception_to_envelope(exc)
    details = envelope.get("details") or {}
    message = envelope["message"]
    param = None
    if isinstance(exc, exceptions.ValidationError):
        param = _first_param(details)
        if param:
            first = details[param]
            while isinstance(first, (list, dict)) and first:
                first = first[0] if isinstance(first, list) else next(iter(first.values()))
            message = f"{param}: {first}"
    code = envelope["code"].lower()
    type_ = None
    if status == 401:
        code = "invalid_api_key"
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    elif status == 429:
        reason = details.get("reason", "")
        if reason in ("daily_tokens", "monthly_tokens"):
            type_ = code = "insufficient_quota"
            # Hours away: the SDKs' automatic retries cannot help (they honour this header).
            headers["x-should-retry"] = "false"
        else:
            type_, code = "requests", "rate_limit_exceeded"
        headers.setdefault("Retry-After", "1")
    return openai_error(
        status=status, message=message, code=code, type_=type_, param=param, headers=headers
    )
