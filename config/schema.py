"""OpenAPI helpers: the error envelope as a component and the error answers of every operation.

Views declare their success bodies and the errors special to them (409, 502, ...). The
postprocessing hook below adds the errors that follow from the shape of an operation, the same
way for every view, with the envelope as the body: a client generator or a contract test then
knows every status the server can answer.
"""

import re
from typing import Any

ENVELOPE_COMPONENT = "ErrorEnvelope"
ENVELOPE_REF = {"$ref": f"#/components/schemas/{ENVELOPE_COMPONENT}"}

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error, REST and WebSocket alike.",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string", "description": "A sentence for people."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "description": "Field errors (`{field: [messages]}`) or facts such as `retry_after`.",
        },
        "timestamp": {"type": "number", "format": "double"},
        "request_id": {"type": "string"},
    },
    "required": ["success", "message", "code", "details", "timestamp", "request_id"],
}

# Why each status can happen; used when a view declared none of its own.
ERROR_DESCRIPTIONS = {
    "400": "Invalid input: body, query parameters or JSON (`VALIDATION_ERROR`).",
    "401": "Missing, invalid, expired or revoked credentials.",
    "403": "Not allowed: role, API key scope, unverified email or CSRF (browsable API); "
    "`TENANT_SUSPENDED`: the organization (`X-Tenant-ID`) or your membership is suspended.",
    "404": "No such object, or it is not yours; `TENANT_NOT_FOUND`: `X-Tenant-ID` names no "
    "organization you are a member of.",
    "409": "Conflicts with the object's current state.",
    "413": "The request body is too large (`PAYLOAD_TOO_LARGE`).",
    "415": "Unsupported media type: send `application/json` (uploads: multipart).",
    "429": "Rate limited (`RATE_LIMITED`, `LOCKED_OUT`, `QUOTA_EXCEEDED`); see `Retry-After`.",
    "502": "The model provider failed.",
    "503": "A dependency (cache, channel layer, model provider) is unavailable; try again.",
}

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}

# Every authenticated operation acts in one organization, chosen by this header.
TENANT_HEADER_PARAMETER: dict[str, Any] = {
    "name": "X-Tenant-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 64},
    "description": "The organization to act in: its id or slug. Without it, your default "
    "organization. One you are not a member of answers 404 `TENANT_NOT_FOUND` (never a "
    "fallback); a suspended organization or membership answers 403 `TENANT_SUSPENDED`. An "
    "API key acts in the organization it was issued for.",
}

_BODY_METHODS = {"post", "put", "patch"}
_PATH_PARAMETER = re.compile(r"{[^}]+}")


def _needs_auth(operation: dict[str, Any], default_security: list[Any]) -> bool:
    security = operation.get("security", default_security)
    return any(requirement for requirement in security)


def _statuses_for(path: str, method: str, operation: dict[str, Any], security: list) -> list[str]:
    """The error statuses an operation can answer because of its shape."""
    statuses = ["429", "503"]  # throttles on every operation; their cache can be down
    query_names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    has_query = bool(query_names)
    has_body = "requestBody" in operation
    if has_body or has_query or method in _BODY_METHODS:
        statuses.append("400")  # invalid input, or an action the object's state refuses
    if has_body:
        statuses.append("415")
    if method in _BODY_METHODS:
        statuses.append("413")  # the middleware refuses a large body before any view runs
    if _needs_auth(operation, security):
        # 404: an X-Tenant-ID naming no organization of the caller's.
        statuses += ["401", "403", "404"]
    if _PATH_PARAMETER.search(path) or "page" in query_names:
        statuses.append("404")  # a missing object, or a page past the last one
    return statuses


def _mark_required_bodies(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """A body whose every form has required fields is itself required (drf-spectacular leaves
    it optional when a view lists several media types, and client generators then offer to
    send nothing)."""
    body = operation.get("requestBody")
    if not body or body.get("required"):
        return
    schemas = [media.get("schema", {}) for media in body.get("content", {}).values()]

    def has_required(schema: dict[str, Any]) -> bool:
        ref = schema.get("$ref", "")
        resolved = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
        return bool(resolved.get("required"))

    if schemas and all(has_required(schema) for schema in schemas):
        body["required"] = True


OPENAI_PATH_PREFIX = "/v1/"
OPENAI_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def error_responses_hook(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: complete and unify every operation's errors."""
    result.setdefault("components", {}).setdefault("schemas", {})[ENVELOPE_COMPONENT] = (
        ENVELOPE_SCHEMA
    )
    default_security = result.get("security", [])
    for path, item in result.get("paths", {}).items():
        # The OpenAI-compatible routes answer OpenAI's error shape, which their clients parse.
        error_ref = OPENAI_ERROR_REF if path.startswith(OPENAI_PATH_PREFIX) else ENVELOPE_REF
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            _mark_required_bodies(operation, result["components"]["schemas"])
            if _needs_auth(operation, default_security):
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "X-Tenant-ID" for p in parameters):
                    parameters.append(TENANT_HEADER_PARAMETER)
            responses = operation.setdefault("responses", {})
            for status in _statuses_for(path, method, operation, default_security):
                responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
            for status, response in responses.items():
                if not status.isdigit() or int(status) < 400:
                    continue
                if not response.get("description"):
                    response["description"] = ERROR_DESCRIPTIONS.get(status, "Error envelope.")
                response["content"] = {"application/json": {"schema": error_ref}}
                if status == "429":
                    response.setdefault("headers", {}).update(RETRY_AFTER_HEADER)
    return result
