"""The organization's own chat models (fine-tuned models), as the model allow-list reads them.

The allow-list is asked on request threads and inside the providers' async calls (a
generation checks its model again before it calls the provider), so the usable model names of
an organization are kept in the shared cache and invalidated on every change. On a cache miss
inside an event loop the database is read on a short-lived thread: Django refuses queries on
the loop's own thread.
"""

import asyncio
import threading
from typing import Any

from django.core.cache import cache
from django.db import close_old_connections
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ai.models import OrganizationModel
from config.cache import cache_invalidate

CACHE_SECONDS = 300


def _cache_key(organization_id: Any) -> str:
    return f"ai:org-models:{organization_id}"


def _query(organization_id: Any) -> list[Any]:
    return list(
        OrganizationModel.all_organizations.filter(organization_id=organization_id)
        .exclude(model_id="")
        .order_by("created_at", "id")
        .values_list("provider", "model_id")
    )


def _query_off_loop(organization_id: Any) -> list[Any]:
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.extend(_query(organization_id))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            error.append(exc)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run, name="org-models-read", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result


def organization_model_ids(*, organization_id: Any, provider: str) -> list[str]:
    """The chat model names ``organization_id`` may use on ``provider`` (its fine-tuned models
    that can be called: OpenAI's by name, Azure's once a deployment is named)."""
    if organization_id is None:
        return []
    key = _cache_key(organization_id)
    rows = cache.get(key)
    if rows is None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            rows = _query(organization_id)
        else:
            rows = _query_off_loop(organization_id)
        cache.set(key, [list(row) for row in rows], CACHE_SECONDS)
    return [model_id for row_provider, model_id in rows if row_provider == provider]


@receiver(post_save, sender=OrganizationModel)
@receiver(post_delete, sender=OrganizationModel)
def _organization_model_changed(
    sender: type[OrganizationModel], instance: OrganizationModel, **kwargs: object
) -> None:
    cache_invalidate(_cache_key(instance.organization_id))
