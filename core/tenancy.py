"""The current organization, and managers that refuse to read tenant-owned rows without one.

Every door sets the organization it resolved (REST from ``X-Tenant-ID`` or the API key, the
WebSocket from its ``auth`` frame, a task from its kwargs) with :func:`organization_scope` or
:func:`activate`; the default manager of a tenant-owned model
(:class:`core.tenant_models.TenantScopedManager`) then reads only that organization's rows,
and raises :class:`TenantContextMissing` when no organization is set, so a forgotten scope
fails loudly instead of leaking. Platform code (the admin console, maintenance sweeps,
operators' commands) opts out by name with :func:`platform_scope`.

Context variables follow ``asyncio`` tasks and ``sync_to_async`` threads, but not a Celery
task or a thread pool started elsewhere: those pass the organization id explicitly and
restore it here.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TypeVar

_organization: ContextVar[Any] = ContextVar("tenancy_organization_id", default=None)
_platform: ContextVar[bool] = ContextVar("tenancy_platform_scope", default=False)


class TenantContextMissing(RuntimeError):
    """A tenant-owned model was read with no organization in context (a programming error)."""


def current_organization_id() -> Any:
    """The id of the organization the current door resolved, or ``None``."""
    return _organization.get()


def in_platform_scope() -> bool:
    return _platform.get()


def activate(organization_id: Any) -> tuple[Token[Any], Token[bool]]:
    """Make ``organization_id`` current (and leave any platform scope) until :func:`restore`.

    For doors that cannot use a ``with`` block around their work (a middleware, a consumer
    that learns the organization from a later frame)."""
    return _organization.set(organization_id), _platform.set(False)


def restore(tokens: tuple[Token[Any], Token[bool]]) -> None:
    organization_token, platform_token = tokens
    _organization.reset(organization_token)
    _platform.reset(platform_token)


@contextmanager
def organization_scope(organization_id: Any) -> Iterator[None]:
    """Run the block for one organization (a task restoring its kwargs, a test)."""
    tokens = activate(organization_id)
    try:
        yield
    finally:
        restore(tokens)


@contextmanager
def platform_scope() -> Iterator[None]:
    """The named escape hatch: the block may read every organization's rows.

    Only for platform code: the admin console (platform administrators), maintenance
    sweeps, operators' management commands, and lookups that find the organization
    themselves (an API key by its hash, a message id a sweep closes)."""
    token = _platform.set(True)
    try:
        yield
    finally:
        _platform.reset(token)


@contextmanager
def no_tenant_context() -> Iterator[None]:
    """Start from nothing (a request, a task): whatever the caller's thread had set before
    must not leak into this unit of work."""
    tokens = (_organization.set(None), _platform.set(False))
    try:
        yield
    finally:
        restore(tokens)


_F = TypeVar("_F", bound=Callable[..., Any])


def platform_code(func: _F) -> _F:
    """Run ``func`` in :func:`platform_scope`: for the entry points of platform work (a sweep,
    a worker claiming the next job of any organization, a thread it starts)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with platform_scope():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
