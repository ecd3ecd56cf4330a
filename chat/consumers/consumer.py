"""The chat WebSocket: JSON frames over ``/ws/chat/`` (protocol in the README).

A thin front door: authentication, frame validation and relaying. Generations run in
``chat.generation``; this socket follows them: directly when this process runs the generation
(it hands the socket its frames), through the message's shared frame log (``chat.streams``)
when another worker does. When the socket closes, the answer still completes and is saved.
"""

import asyncio
import json
import time
import uuid
from collections import deque
from typing import Any

import structlog
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from django.conf import settings

from chat.consumers.auth import SocketAuthMixin
from chat.consumers.follow import SocketFollowMixin
from chat.consumers.work import message_settled, prepare_turn
from chat.db import chat_db
from chat.generation.generation import generation_start
from chat.generation.running import generation_cancel, generation_local
from chat.models import ACTIVE_STATUSES
from chat.selectors import chat_message_get
from config.exceptions import ApplicationError
from core import tenancy
from core.actor import actor_from_scope


class ChatConsumer(SocketAuthMixin, SocketFollowMixin):
    """One client connection. State: who it is, what it follows, what it is generating."""

    async def connect(self) -> None:
        # The state declared (and typed) on SocketBase.
        self.user = None
        self.raw_token = None
        self.membership = None
        # No organization until the socket authenticates (and never the caller's context).
        tenancy.activate(None)
        self.active_message_id = None
        self.local_follows = {}
        self.remote_follows = {}
        self.frame_times = deque()
        self.auth_task = None
        self.joined_user_group = None
        structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex, transport="ws")

        token, subprotocol = self._handshake_token()
        await self.accept(subprotocol)
        if token is not None:
            await self._authenticate(token)
        else:
            self.auth_task = asyncio.create_task(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        if self.auth_task is not None:
            self.auth_task.cancel()
        if self.joined_user_group:
            await self.channel_layer.group_discard(self.joined_user_group, self.channel_name)
        following = [*getattr(self, "local_follows", {}), *getattr(self, "remote_follows", {})]
        for message_id in following:
            self._stop_following(message_id)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler of ``message`` without Channels' per-event connection cleanup.

        ``AsyncConsumer.dispatch`` first runs ``close_old_connections`` in the sync thread, a
        thread hop for every event: for every token frame of every answer, queued behind
        (and delaying) the database work of all sockets. This consumer touches the database
        only through ``database_sync_to_async``, which does that cleanup around each call.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- receiving -------------------------------------------------------------------
    def _rate_limited(self) -> bool:
        now = time.monotonic()
        while self.frame_times and now - self.frame_times[0] > 60:
            self.frame_times.popleft()
        self.frame_times.append(now)
        return len(self.frame_times) > int(settings.CHAT_WS_MAX_FRAMES_PER_MINUTE)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error(message="Send JSON text frames.", code="VALIDATION_ERROR")
            return
        limit = int(settings.CHAT_WS_MAX_FRAME_BYTES)
        if len(text_data) > limit or len(text_data.encode("utf-8")) > limit:
            await self._error(
                message=f"Frames are limited to {limit} bytes.",
                code="PAYLOAD_TOO_LARGE",
                details={"max_bytes": limit},
            )
            return
        if self._rate_limited():
            await self._error(message="Too many frames; slow down.", code="RATE_LIMITED")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            frame = None
        kind = frame.get("type") if isinstance(frame, dict) else None
        # Every frame of an authenticated socket re-checks its token, so a logout, a token
        # version bump, an expiry or a suspension ends the socket at its next frame even when
        # the revocation broadcast never arrived. `message` re-checks in its own thread hop,
        # and `auth` brings a new token (the old one may have expired: that is why it comes).
        if (
            self.user is not None
            and kind not in ("auth", "message")
            and not await self._token_still_valid()
        ):
            await self._reject("Your session has ended; log in again.")
            return
        if not isinstance(frame, dict) or not isinstance(kind, str):
            await self._error(
                message="Each frame is a JSON object with a 'type'.", code="VALIDATION_ERROR"
            )
            return
        if self.user is None:
            if kind == "auth" and isinstance(frame.get("token"), str):
                await self._authenticate(frame["token"], frame.get("tenant"))
            else:
                await self._reject("The first frame must be {'type': 'auth', 'token': ...}.")
            return
        if kind == "auth":
            await self._reauthenticate(frame.get("token"))
            return
        handler = {
            "message": self._on_message,
            "cancel": self._on_cancel,
            "resume": self._on_resume,
            "ping": self._on_ping,
        }.get(kind)
        if handler is None:
            await self._error(
                message=f"Unknown frame type {kind!r}.",
                code="VALIDATION_ERROR",
                details={"type": ["One of: message, cancel, resume, ping."]},
            )
            return
        await handler(frame)

    async def _on_ping(self, frame: dict[str, Any]) -> None:
        await self._send({"type": "pong"})

    @staticmethod
    def _int_field(frame: dict[str, Any], name: str, *, required: bool) -> int | None:
        value = frame.get(name)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApplicationError(
                f"'{name}' must be a non-negative integer.",
                code="VALIDATION_ERROR",
                details={name: ["A non-negative integer is required."]},
            )
        return value

    async def _on_message(self, frame: dict[str, Any]) -> None:
        if self.active_message_id is not None:
            await self._error(
                message="An answer is still being generated on this connection.",
                code="GENERATION_IN_PROGRESS",
                message_id=self.active_message_id,
            )
            return
        received = time.perf_counter()
        content, model = frame.get("content"), frame.get("model")
        # ``regenerate: true`` asks the session's last question again (no ``content``): the
        # new answer replaces the last one (chat_turn_plan).
        regenerate = frame.get("regenerate", False)
        try:
            if not isinstance(regenerate, bool):
                raise ApplicationError(
                    "'regenerate' must be true or false.",
                    code="VALIDATION_ERROR",
                    details={"regenerate": ["A boolean is required."]},
                )
            if regenerate and content is None:
                content = ""
            if not isinstance(content, str):
                raise ApplicationError(
                    "'content' must be a string.",
                    code="VALIDATION_ERROR",
                    details={"content": ["A string is required."]},
                )
            if model is not None and not isinstance(model, str):
                raise ApplicationError("'model' must be a string.", code="VALIDATION_ERROR")
            session_id = self._int_field(frame, "session_id", required=False)
            # Logout, suspension and expiry take effect here; the quota is reserved and the
            # message stored before any model call.
            user, turn = await chat_db(prepare_turn)(
                scope=self.scope,
                token=self.raw_token or "",
                organization_id=self.membership.organization_id,
                content=content,
                session_id=session_id,
                model=model,
                regenerate=regenerate,
            )
        except ApplicationError as exc:
            await self._error_from(exc)
            return
        if user is None or turn is None:
            await self._reject("Your session has ended; log in again.")
            return
        self.user = user
        message_id = turn.message.pk
        self.active_message_id = message_id
        await self._send({"type": "start", "message_id": message_id, "session_id": turn.session.pk})
        await self._send({"type": "sources", "message_id": message_id, "sources": turn.sources})
        # This socket follows the answer from its first frame, handed over directly.
        self.local_follows[message_id] = generation_start(
            turn=turn,
            user_id=user.pk,
            persist_interval=float(settings.CHAT_STREAM_PERSIST_INTERVAL),
            started=received,
            sink=self,
        )

    async def _on_cancel(self, frame: dict[str, Any]) -> None:
        try:
            message_id = self._int_field(frame, "message_id", required=True)
            message = await database_sync_to_async(chat_message_get)(
                actor=actor_from_scope(self.scope, self.user, self.membership),
                message_id=message_id,
            )
        except ApplicationError as exc:
            await self._error_from(exc)
            return
        if message.status not in ACTIVE_STATUSES:
            await self._error(
                message="This answer is not being generated any more.",
                code="CONFLICT",
                message_id=message.pk,
                details={"status": message.status},
            )
            return
        await generation_cancel(message_id=message.pk)

    async def _on_resume(self, frame: dict[str, Any]) -> None:
        try:
            message_id = self._int_field(frame, "message_id", required=True)
            after_seq = self._int_field(frame, "after_seq", required=False) or 0
            assert message_id is not None
            # Ownership (another user's message is a 404); a message whose generation is lost
            # (no heartbeat) is closed on the spot, so this never waits for a dead worker.
            message = await database_sync_to_async(message_settled)(
                message_id, actor_from_scope(self.scope, self.user, self.membership)
            )
        except ApplicationError as exc:
            await self._error_from(exc)
            return
        self._stop_following(message_id)  # a second resume of the same message starts over
        await self._send(
            {
                "type": "start",
                "message_id": message_id,
                "session_id": message.session_id,
                "resumed": True,
            }
        )
        await self._send({"type": "sources", "message_id": message_id, "sources": message.sources})
        generation = generation_local(message_id=message_id)
        if generation is not None:
            # Generated here: its in-memory log replays what was missed, then it goes live.
            self.local_follows[message_id] = generation
            await generation.follow(self, after_seq=after_seq)
            return
        seq = await self._replay(message, after_seq)
        if message.status not in ACTIVE_STATUSES:
            await self._end_from_db(message)
            return
        self.remote_follows[message_id] = asyncio.create_task(self._follow_remote(message_id, seq))
