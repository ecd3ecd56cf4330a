"""Log processors shared by every entry point."""

import re
from typing import Any

REDACTED = "***"
# Parameter names whose values are credentials: ``token``, ``refresh_token``, ``api_key``,
# ``verify``/``reset`` (the emailed links' tokens), ``client_secret``, ``apikey``, ``sessionid``...
SENSITIVE_PARAM = (
    r"(?:[A-Za-z0-9]*[_-])?"
    r"(?:tokens?|access|refresh|password|passwd|pwd|pass|passphrase|apikey|key|secret|code|otp"
    r"|verify|reset|auth|jwt|signature|sig|session|sessionid|credentials?)"
    r"(?:[_-][A-Za-z0-9]*)?"
)
# name=value pairs in query strings, URLs and form bodies (also percent-encoded separators).
_QUERY_SECRET = re.compile(
    rf"(?i)(?P<name>(?:^|[?&;\s]|%26|%3F){SENSITIVE_PARAM}(?:=|%3D))[^&;\s#\"']*"
)
_BEARER = re.compile(r"(?i)\b(bearer|api-key)\s+[A-Za-z0-9._~+/=-]+")
_SENSITIVE_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "token",
        "access",
        "refresh",
        "mfa_token",
        "secret",
        "api_key",
        "authorization",
        "otp",
    }
)


def redact_text(text: str) -> str:
    """Replace secret values in query strings and auth headers inside free text."""
    if "=" in text or "%3D" in text or "%3d" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group("name") + REDACTED, text)
    if " " in text:
        text = _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if str(k).lower() in _SENSITIVE_KEYS and v else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: no token, password or key reaches a log line."""
    return _redact(event_dict)
