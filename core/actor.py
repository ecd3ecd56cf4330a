"""Who is acting, and from where: built once per front door, passed to every service.

Services and selectors take an :class:`Actor`, never the HTTP request, the WebSocket scope or
the admin's request: the door turns what it has into an ``Actor`` (``actor_from_request``,
``actor_from_scope``, ``actor_for_system``) and everything below it decides from that alone.
The ``user`` is the row authentication loaded for this request or frame, so permission checks
(:mod:`tenants.policies`) read the role as it is now, never a role copied into a token.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

import structlog


@dataclass(frozen=True)
class Actor:
    """A user (or nobody: a sign-up, a login, the system) acting from an address.

    ``organization`` and ``membership_role`` are the organization the door resolved and the
    user's role in it (``owner``, ``admin``, ``member``, ``viewer``); the user's own ``role``
    stays the platform role (a platform ``admin``, a read-only ``viewer`` account). ``system``
    marks the platform itself (a management command an operator runs, a maintenance task): the named
    escape hatch that may act on any user's data (see :mod:`core.policies`).
    """

    user: Any = None
    organization: Any = None
    membership_role: str | None = None
    ip: str | None = None
    request_id: str = ""
    user_agent: str = ""
    system: bool = False

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)

    @property
    def organization_id(self) -> Any:
        return getattr(self.organization, "pk", None)

    @property
    def is_authenticated(self) -> bool:
        return bool(self.user is not None and getattr(self.user, "is_authenticated", False))

    @property
    def required_user_id(self) -> int:
        """The acting user's id where the door has already authenticated one (metering,
        generations): a missing user there is a programming error, not a client's."""
        user_id = self.user_id
        if user_id is None:
            raise RuntimeError("This operation needs an authenticated actor.")
        return int(user_id)

    def as_user(self, user: Any) -> "Actor":
        """The same door (address, request id) acting as ``user``: the account a login or a
        sign-up has just identified."""
        return dataclasses.replace(self, user=user)


def _current_request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id") or "")[:128]


def actor_from_request(request: Any) -> Actor:
    """The actor of a Django or DRF request (REST views, the admin console, page views).

    The address is the one DRF's throttles see (``NUM_PROXIES`` honoured)."""
    from rest_framework.throttling import BaseThrottle

    http = getattr(request, "_request", request)
    user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    try:
        ip = BaseThrottle().get_ident(request)
    except Exception:  # noqa: BLE001 - an odd request still gets an actor
        ip = None
    request_id = getattr(http, "request_id", None) or _current_request_id()
    meta = getattr(http, "META", {}) or {}
    # Set by the authentication that resolved the organization (tenants.authentication).
    membership = getattr(http, "tenant_membership", None) if user is not None else None
    return Actor(
        user=user,
        organization=getattr(membership, "organization", None),
        membership_role=getattr(membership, "role", None),
        ip=ip,
        request_id=str(request_id or "")[:128],
        user_agent=str(meta.get("HTTP_USER_AGENT", ""))[:256],
    )


def actor_from_scope(scope: dict[str, Any], user: Any, membership: Any = None) -> Actor:
    """The actor of a WebSocket frame: the user its token names now, in the organization its
    ``auth`` frame selected (``membership``), from the socket's address."""
    client = scope.get("client") or (None, None)
    headers = dict(scope.get("headers") or [])
    agent = headers.get(b"user-agent", b"").decode("latin-1")
    return Actor(
        user=user,
        organization=getattr(membership, "organization", None),
        membership_role=getattr(membership, "role", None),
        ip=client[0] if client else None,
        request_id=_current_request_id(),
        user_agent=agent[:256],
    )


def actor_for_system(
    user: Any = None, *, request_id: str | None = None, organization: Any = None
) -> Actor:
    """The platform acting (a management command, a maintenance task): no address; ``user``
    is whose data the work is about (the owner of ingested files), ``organization`` the
    organization it belongs to, when there is one."""
    return Actor(
        user=user,
        organization=organization,
        request_id=request_id or _current_request_id(),
        system=True,
    )
