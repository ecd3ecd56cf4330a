"""What every part of the chat socket shares: its state and how it sends frames."""

import asyncio
import json
from collections import deque
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.generation.generation import Generation
from config.exceptions import error_envelope, exception_to_envelope
from config.outage import ChannelLayerOutageMixin


class SocketBase(ChannelLayerOutageMixin, AsyncWebsocketConsumer):
    """The chat socket's state (set in ``connect``) and its frame senders."""

    user: Any
    raw_token: str | None
    # The membership the auth frame (or ``?tenant=``) selected: the socket's organization.
    membership: Any
    active_message_id: int | None
    # Messages this socket follows: run here (the generation) or elsewhere (a reader task).
    local_follows: dict[int, Generation]
    remote_follows: dict[int, asyncio.Task]
    frame_times: deque[float]
    auth_task: asyncio.Task | None
    joined_user_group: str | None

    # --- sending ---------------------------------------------------------------------
    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _error(
        self,
        *,
        message: str,
        code: str,
        details: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "error"}
        if message_id is not None:
            frame["message_id"] = message_id
        frame.update(error_envelope(message=message, code=code, details=details))
        await self._send(frame)

    async def _error_from(self, exc: BaseException, *, message_id: int | None = None) -> None:
        _, envelope, _ = exception_to_envelope(exc)
        frame: dict[str, Any] = {"type": "error"}
        if message_id is not None:
            frame["message_id"] = message_id
        frame.update(envelope)
        await self._send(frame)
