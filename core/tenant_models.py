"""The building blocks of tenant-owned models: the scoped manager and the abstract model.

Kept apart from :mod:`core.tenancy` (the context, importable anywhere, early) because a model
class can only be defined once the app registry is ready."""

from typing import Any, Generic, TypeVar

from django.db import models

from core.tenancy import TenantContextMissing, current_organization_id, in_platform_scope

_M = TypeVar("_M", bound=models.Model)


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
        if in_platform_scope():
            return queryset
        organization_id = current_organization_id()
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
    organization_id = current_organization_id()
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
        if self.organization_id is None:
            owner_id = getattr(self, f"{self.tenant_owner_field}_id", None)
            self.organization_id = organization_for_new_row(owner_id)
        super().save(*args, **kwargs)
