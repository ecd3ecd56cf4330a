"""Authentication of the chat socket: handshake token, auth frame, re-checks, revocation."""

import asyncio
from typing import Any
from urllib.parse import parse_qs

import structlog
from channels.db import database_sync_to_async
from django.conf import settings

from accounts.authentication import user_from_access_token
from accounts.sessions import user_group_name
from chat.consumers.base import SocketBase
from config.exceptions import ApplicationError
from core import tenancy
from tenants.resolution import membership_resolve

CLOSE_UNAUTHORIZED = 4401
# The organization asked for is not one of the user's (or is suspended).
CLOSE_TENANT_REFUSED = 4403
SUBPROTOCOL = "bearer"


class SocketAuthMixin(SocketBase):
    """Who the socket is: authenticated once, re-checked on every frame, revoked by broadcast."""

    def _handshake_token(self) -> tuple[str | None, str | None]:
        """Token from ``Sec-WebSocket-Protocol: bearer, <token>`` or ``?token=``."""
        protocols = list(self.scope.get("subprotocols") or [])
        if SUBPROTOCOL in protocols:
            index = protocols.index(SUBPROTOCOL)
            if index + 1 < len(protocols):
                return protocols[index + 1], SUBPROTOCOL
            return None, SUBPROTOCOL
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("token")
        return (values[0] if values else None), None

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(float(settings.CHAT_WS_AUTH_TIMEOUT))
        if self.user is None:
            await self._reject("Authentication timed out: send an auth frame first.")

    async def _user_for(self, token: str) -> Any:
        try:
            return await database_sync_to_async(user_from_access_token)(token)
        except Exception:  # noqa: BLE001 - any failure means "not authenticated"
            return None

    def _query_tenant(self) -> str | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("tenant")
        return values[0] if values else None

    async def _authenticate(self, token: str, tenant: Any = None) -> bool:
        """The token's user, in the organization the ``auth`` frame's ``tenant`` (or the
        ``?tenant=`` query) names, else their default one. A tenant the user is not a member
        of is an error frame (``TENANT_NOT_FOUND``) and a close, as a bad token is."""
        user = await self._user_for(token)
        if user is None:
            await self._reject("The token is invalid, expired or revoked.")
            return False
        try:
            membership = await database_sync_to_async(membership_resolve)(
                user=user, tenant=tenant if isinstance(tenant, str) else self._query_tenant()
            )
        except ApplicationError as exc:
            await self._error_from(exc)
            await self.close(code=CLOSE_TENANT_REFUSED)
            return False
        self.user, self.raw_token, self.membership = user, token, membership
        # The socket's task (and the generations it starts, and their database threads)
        # now read and write this organization's rows only.
        tenancy.activate(membership.organization_id)
        if self.auth_task is not None:
            self.auth_task.cancel()
        self.joined_user_group = user_group_name(user.pk)
        await self.channel_layer.group_add(self.joined_user_group, self.channel_name)
        structlog.contextvars.bind_contextvars(
            user_id=user.pk, organization_id=str(membership.organization_id)
        )
        await self._send(self._ready_frame())
        return True

    def _ready_frame(self) -> dict[str, Any]:
        organization = self.membership.organization
        return {
            "type": "ready",
            "user_id": self.user.pk,
            "organization": {
                "id": str(organization.pk),
                "slug": organization.slug,
                "role": self.membership.role,
            },
        }

    async def _reject(self, message: str) -> None:
        await self._error(message=message, code="AUTHENTICATION_FAILED")
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _token_still_valid(self) -> bool:
        """Whether this socket's token still stands: not expired, not revoked by a logout, not
        older than the user's token version, its user active. One thread hop, one statement."""
        user = await self._user_for(self.raw_token or "")
        if user is None or user.pk != self.user.pk:
            return False
        self.user = user
        return True

    async def _reauthenticate(self, token: Any) -> None:
        """A fresh access token on a live socket (after a refresh); same user only."""
        user = await self._user_for(token) if isinstance(token, str) else None
        if user is None or user.pk != self.user.pk:
            await self._reject("The token is invalid, expired, revoked or for another user.")
            return
        self.user, self.raw_token = user, token
        await self._send(self._ready_frame())

    async def auth_revoked(self, event: dict[str, Any]) -> None:
        await self._reject("Your session was revoked; log in again.")
