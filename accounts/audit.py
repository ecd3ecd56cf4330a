"""Audit-worthy events (logins, MFA changes, role changes, suspensions) go through one function.

Today it emits one structured log line; persisting to an audit table will happen here too, so
every caller already uses it. Secrets never get here: only ids, IPs and small facts.
"""

from typing import Any

import structlog
from rest_framework.throttling import BaseThrottle

logger = structlog.get_logger("audit")

_SECRET_HINTS = ("password", "token", "secret", "code", "otp", "key")


def client_ip(request: Any) -> str | None:
    """The client IP as DRF's throttles see it (honours ``NUM_PROXIES``)."""
    if request is None:
        return None
    try:
        return BaseThrottle().get_ident(request)
    except Exception:  # noqa: BLE001 - a log line must never break the request
        return None


def audit_log(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    request: Any = None,
    **details: Any,
) -> None:
    """Record an audit event: who (``actor``) did ``action`` to whom (``target``), from where."""
    safe = {
        key: value
        for key, value in details.items()
        if not any(hint in key.lower() for hint in _SECRET_HINTS)
    }
    logger.info(
        "audit",
        action=action,
        actor_id=getattr(actor, "pk", None),
        target_id=getattr(target, "pk", None),
        ip=client_ip(request),
        **safe,
    )
