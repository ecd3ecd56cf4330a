"""The current organization, and managers that refuse to read tenant-owned rows without one.

Every door sets the organization it resolved (REST from ``X-Tenant-ID`` or the API key, the
WebSocket from its ``auth`` frame, a task from its kwargs) with :func:`organization_scope` or
:func:`activate`; the default manager of a tenant-owned model (:class:`TenantScopedManager`)
then reads only that organization's rows, and raises :class:`TenantContextMissing` when no
organization is set, so a forgotten scope fails loudly instead of leaking. Platform code (the
admin console, maintenance sweeps, operators' commands) opts out by name with
:func:`platform_scope`.

Context variables follow ``asyncio`` tasks and ``sync_to_async`` threads, but not a Celery
task or a thread pool started elsewhere: those pass the organization id explicitly and
restore it here.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Generic, TypeVar

from django.db import models

_organization: ContextVar[Any] = ContextVar("tenancy_organization_id", default=None)
_platform: ContextVar[bool] = ContextVar("tenancy_platform_scope", default=False)

_M = TypeVar("_M", bound=models.Model)


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


class TenantScopedQuerySet(models.QuerySet[_M], Generic[_M]):
    pass


class TenantScopedManager(models.Manager[_M]):
    """The default manager of a tenant-owned model: the current organization's rows only.

    Raises :class:`TenantContextMissing` with no organization in context and no platform
    scope. Deletion cascades and ``refresh_from_db`` use the plain base manager, so they are
    not affected."""

    def none(self) -> models.QuerySet[_M]:
        # Reads nothing, so it needs no organization (DRF views declare ``queryset = none()``
        # at import time, for the schema).
        return super().get_queryset().none()

    def get_queryset(self) -> models.QuerySet[_M]:
        queryset = super().get_queryset()
        if _platform.get():
            return queryset
        organization_id = _organization.get()
        if organization_id is None:
            raise TenantContextMissing(
                f"{self.model.__name__} was queried without an organization in context; "
                "a door must resolve one (core.tenancy.organization_scope), or platform code "
                "must say so (core.tenancy.platform_scope)."
            )
        return queryset.filter(organization_id=organization_id)


def organization_for_new_row(owner_id: Any) -> Any:
    """The organization a new tenant-owned row belongs to when its creator did not say: the
    current one, else (platform code creating a row for a user: an ingest command, a fixture)
    the owner's default organization."""
    organization_id = _organization.get()
    if organization_id is not None:
        return organization_id
    if owner_id is None:
        return None
    from django.apps import apps

    membership = apps.get_model("tenants", "Membership")
    return (
        membership.objects.filter(user_id=owner_id, is_default=True)
        .values_list("organization_id", flat=True)
        .first()
    )


class TenantOwnedModel(models.Model):
    """A row that belongs to one organization: indexed foreign key, scoped default manager.

    ``all_organizations`` is the plain manager, for platform code only (the same escape
    hatch as :func:`platform_scope`, for one query). ``tenant_owner_field`` names the user
    whose default organization a row created outside any organization context lands in."""

    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="+"
    )

    tenant_owner_field = "user"

    objects = TenantScopedManager()
    all_organizations = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        abstract = True
        base_manager_name = "all_organizations"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.organization_id is None:  # type: ignore[attr-defined]
            owner_id = getattr(self, f"{self.tenant_owner_field}_id", None)
            self.organization_id = organization_for_new_row(owner_id)
        super().save(*args, **kwargs)


_F = TypeVar("_F", bound=Callable[..., Any])


def platform_code(func: _F) -> _F:
    """Run ``func`` in :func:`platform_scope`: for the entry points of platform work (a sweep,
    a worker claiming the next job of any organization, a thread it starts)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with platform_scope():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
