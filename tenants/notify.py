"""Telling open sockets that their organization is gone for them (suspended, deleted, the
membership removed or suspended), on every worker, through the members' user groups.

REST needs no message: the membership cache is invalidated on every change
(``tenants.signals``), so the next request answers 403/404. A socket authenticated earlier
would keep streaming until its next frame; this event closes it at once.
"""

from collections.abc import Iterable
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from accounts.sessions import user_group_name

logger = structlog.get_logger(__name__)

# Handled by ``chat.consumers`` as ``tenant_revoked``: sockets of that organization close.
TENANT_REVOKED_EVENT = "tenant.revoked"


def _send(user_ids: list[Any], organization_id: str, code: str, message: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    event = {
        "type": TENANT_REVOKED_EVENT,
        "organization_id": organization_id,
        "code": code,
        "message": message,
    }
    for user_id in user_ids:
        try:
            async_to_sync(layer.group_send)(user_group_name(user_id), event)
        except Exception:  # noqa: BLE001 - REST is refused already; sockets re-check per turn
            logger.warning("tenant_revocation_broadcast_failed", user_id=user_id)


def sockets_close_for(
    *, user_ids: Iterable[Any], organization_id: Any, code: str, message: str
) -> None:
    """After the current transaction commits, close the sockets that ``user_ids`` opened in
    ``organization_id`` (their sockets in other organizations stay open)."""
    ids = list(user_ids)
    if not ids:
        return
    transaction.on_commit(lambda: _send(ids, str(organization_id), code, message))
