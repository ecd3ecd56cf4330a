"""Audit-worthy events (logins, MFA changes, role changes, suspensions, quota and flag changes,
document deletions) go through one function.

``audit_log`` emits one structured log line AND persists an ``AuditEvent`` row, so every caller
gets both from one call site. Secrets never get here: only ids, IPs and small facts.
"""

from typing import Any

import structlog
from django.db import DatabaseError, transaction

from core.actor import Actor
from core.tenancy import current_organization_id
from ops.models import AuditEvent

logger = structlog.get_logger("audit")

_SECRET_HINTS = ("password", "token", "secret", "code", "otp", "key")
# Details are small facts; anything larger is cut so one event cannot bloat the table.
_MAX_DETAIL_CHARS = 500


def _context_request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id") or "")


def _json_safe(value: Any) -> Any:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k)[:64]: _json_safe(v) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value[:50]]
    return str(value)[:_MAX_DETAIL_CHARS]


def _valid_ip(ip: str | None) -> str | None:
    import ipaddress

    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def audit_log(
    *,
    action: str,
    actor: Actor | None = None,
    target: Any = None,
    **details: Any,
) -> None:
    """Record an audit event: who (``actor.user``) did ``action`` to whom (``target``), from
    where (``actor.ip``, ``actor.request_id``). An actor without a user is an anonymous or
    failed attempt (a wrong password), still recorded with its address."""
    safe = {
        key: _json_safe(value)
        for key, value in details.items()
        if not any(hint in key.lower() for hint in _SECRET_HINTS)
    }
    actor = actor or Actor()
    user = actor.user
    ip = actor.ip
    logger.info(
        "audit",
        action=action,
        actor_id=getattr(user, "pk", None),
        target_id=getattr(target, "pk", None),
        ip=ip,
        **safe,
    )
    actor_pk = getattr(user, "pk", None)
    event = AuditEvent(
        actor_id=actor_pk,
        organization_id=actor.organization_id or current_organization_id(),
        actor_email=str(getattr(user, "email", "") or "")[:254] if actor_pk else "",
        action=action[:64],
        target_type=(target._meta.label_lower[:64] if target is not None else ""),
        target_id=str(getattr(target, "pk", "") or "")[:64],
        target_repr=(str(target)[:255] if target is not None else ""),
        ip=_valid_ip(ip),
        request_id=(actor.request_id or _context_request_id())[:128],
        details=safe,
    )
    try:
        # A savepoint: a failing insert must not poison the caller's transaction.
        with transaction.atomic():
            event.save()
    except DatabaseError:
        logger.exception("audit_persist_failed", action=action)
