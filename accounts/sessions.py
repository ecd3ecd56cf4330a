"""Ending every session of a user at once: REST tokens and open WebSockets.

Used by suspension, password change/reset and logout-all. Bumping ``token_version`` makes every
access token fail its next check; blacklisting the outstanding refresh tokens stops new ones;
the channel-layer broadcast tells open sockets of the user (on any worker) to close.
"""

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User

logger = structlog.get_logger(__name__)

REVOKED_EVENT = "auth.revoked"


def user_group_name(user_id: int) -> str:
    """Channel-layer group that every open socket of the user joins."""
    return f"user.{user_id}"


def broadcast_revocation(*, user_id: int, reason: str) -> None:
    """Tell the user's open sockets (on every worker) to close; never fails the caller."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group_name(user_id), {"type": REVOKED_EVENT, "reason": reason}
        )
    except Exception:  # noqa: BLE001 - tokens are already revoked; sockets re-check on each frame
        logger.warning("revocation_broadcast_failed", user_id=user_id)


def user_sessions_revoke(*, user: User, reason: str) -> None:
    """Revoke every access and refresh token of ``user`` and close their sockets."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
        outstanding = OutstandingToken.objects.filter(user=user).exclude(
            pk__in=BlacklistedToken.objects.filter(token__user=user).values("token_id")
        )
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
    user.refresh_from_db(fields=["token_version"])
    transaction.on_commit(lambda: broadcast_revocation(user_id=user.pk, reason=reason))
    logger.info("sessions_revoked", target_user_id=user.pk, reason=reason)
