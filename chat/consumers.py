"""The chat WebSocket: JSON frames over ``/ws/chat/`` (protocol in the README).

A thin front door: authentication, frame validation and relaying. Generations run in
``chat.generation`` and publish to a channel-layer group per message, so this socket only
follows them; when it closes, the answer still completes and is saved.
"""

import asyncio
import json
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import structlog
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import user_from_access_token
from accounts.services import user_require_verified
from accounts.sessions import user_group_name
from chat.generation import generation_cancel, generation_is_local, generation_start, message_group
from chat.models import ACTIVE_STATUSES, ChatMessage
from chat.recovery import chat_messages_recover_orphans
from chat.selectors import chat_message_get
from chat.services import Turn, chat_turn_prepare
from config.exceptions import ApplicationError, error_envelope, exception_to_envelope
from config.outage import ChannelLayerOutageMixin

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
SUBPROTOCOL = "bearer"
# How long a follower waits for a checkpoint to cover frames it missed on the live group.
_CATCH_UP_SECONDS = 5.0


def _get_message(message_id: int) -> ChatMessage:
    return ChatMessage.objects.get(pk=message_id)


def _prepare_turn(
    *, token: str, content: str, session_id: int | None, model: str | None
) -> tuple[Any, Turn | None]:
    """Re-validate the token, then plan and store the turn: one thread hop before the model."""
    try:
        user = user_from_access_token(token)
    except Exception:  # noqa: BLE001 - any failure means "not authenticated"
        return None, None
    user_require_verified(user=user)  # REQUIRE_VERIFIED_EMAIL: an error frame, not a close
    turn = chat_turn_prepare(
        user=user, content=content, session_id=session_id, model=model, streaming=True
    )
    return user, turn


class ChatConsumer(ChannelLayerOutageMixin, AsyncWebsocketConsumer):
    """One client connection. State: who it is, what it follows, what it is generating."""

    async def connect(self) -> None:
        self.user: Any = None
        self.raw_token: str | None = None
        self.active_message_id: int | None = None
        self.following: dict[int, int] = {}  # message id -> next token seq expected
        self.frame_times: deque[float] = deque()
        self.auth_task: asyncio.Task | None = None
        self.joined_user_group: str | None = None
        structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex, transport="ws")

        token, subprotocol = self._handshake_token()
        await self.accept(subprotocol)
        if token is not None:
            await self._authenticate(token)
        else:
            self.auth_task = asyncio.create_task(self._auth_deadline())

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

    async def _authenticate(self, token: str) -> bool:
        user = await self._user_for(token)
        if user is None:
            await self._reject("The token is invalid, expired or revoked.")
            return False
        self.user, self.raw_token = user, token
        if self.auth_task is not None:
            self.auth_task.cancel()
        self.joined_user_group = user_group_name(user.pk)
        await self.channel_layer.group_add(self.joined_user_group, self.channel_name)
        structlog.contextvars.bind_contextvars(user_id=user.pk)
        await self._send({"type": "ready", "user_id": user.pk})
        return True

    async def _reject(self, message: str) -> None:
        await self._error(message=message, code="AUTHENTICATION_FAILED")
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def disconnect(self, code: int) -> None:
        if self.auth_task is not None:
            self.auth_task.cancel()
        if self.joined_user_group:
            await self.channel_layer.group_discard(self.joined_user_group, self.channel_name)
        for message_id in list(getattr(self, "following", {})):
            await self.channel_layer.group_discard(message_group(message_id), self.channel_name)
        # Nothing is cancelled: running generations finish and save without this socket.

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
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error(
                message="Each frame is a JSON object with a 'type'.", code="VALIDATION_ERROR"
            )
            return
        kind = frame["type"]
        if self.user is None:
            if kind == "auth" and isinstance(frame.get("token"), str):
                await self._authenticate(frame["token"])
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

    async def _reauthenticate(self, token: Any) -> None:
        """A fresh access token on a live socket (after a refresh); same user only."""
        user = await self._user_for(token) if isinstance(token, str) else None
        if user is None or user.pk != self.user.pk:
            await self._reject("The token is invalid, expired, revoked or for another user.")
            return
        self.user, self.raw_token = user, token
        await self._send({"type": "ready", "user_id": user.pk})

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
        try:
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
            user, turn = await database_sync_to_async(_prepare_turn)(
                token=self.raw_token or "", content=content, session_id=session_id, model=model
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
        self.following[message_id] = 1
        # Follow the message's group before its first frame can be published.
        await self.channel_layer.group_add(message_group(message_id), self.channel_name)
        generation_start(
            turn=turn,
            user_id=user.pk,
            persist_interval=float(settings.CHAT_STREAM_PERSIST_INTERVAL),
            started=received,
        )
        # Frames of this handler go out before any token frame: the consumer handles the
        # generation's channel-layer events only after this returns.
        await self._send({"type": "start", "message_id": message_id, "session_id": turn.session.pk})
        await self._send({"type": "sources", "message_id": message_id, "sources": turn.sources})

    async def _on_cancel(self, frame: dict[str, Any]) -> None:
        try:
            message_id = self._int_field(frame, "message_id", required=True)
            message = await database_sync_to_async(chat_message_get)(
                message_id=message_id, user=self.user
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
            # Ownership check (another user's message is a 404).
            await database_sync_to_async(chat_message_get)(message_id=message_id, user=self.user)
        except ApplicationError as exc:
            await self._error_from(exc)
            return
        assert message_id is not None
        # Join the live group before reading the checkpoint, so nothing falls in between.
        await self.channel_layer.group_add(message_group(message_id), self.channel_name)
        message = await database_sync_to_async(_get_message)(message_id)
        recover = database_sync_to_async(chat_messages_recover_orphans)
        # Its worker may have died: close it if it has gone quiet for too long.
        if (
            message.status in ACTIVE_STATUSES
            and not generation_is_local(message_id=message_id)
            and await recover(message_ids=[message_id])
        ):
            message = await database_sync_to_async(_get_message)(message_id)
        self.following[message_id] = after_seq + 1
        await self._send(
            {
                "type": "start",
                "message_id": message_id,
                "session_id": message.session_id,
                "resumed": True,
            }
        )
        await self._send({"type": "sources", "message_id": message_id, "sources": message.sources})
        await self._replay(message, message.seq)
        if message.status not in ACTIVE_STATUSES:
            await self._end_from_db(message)

    async def _replay(self, message: ChatMessage, upto: int) -> None:
        expected = self.following.get(message.pk)
        if expected is None:
            return
        for seq, content in message.frames_after(expected - 1):
            if seq > upto:
                break
            await self._send(
                {"type": "token", "message_id": message.pk, "seq": seq, "content": content}
            )
            expected = seq + 1
        self.following[message.pk] = expected

    async def _end_from_db(self, message: ChatMessage) -> None:
        meta = message.metadata or {}
        await self._send(
            {
                "type": "end",
                "message_id": message.pk,
                "status": message.status,
                "seq": message.seq,
                "finish_reason": meta.get("finish_reason"),
                "usage": {
                    "prompt_tokens": meta.get("prompt_tokens", 0),
                    "completion_tokens": meta.get("completion_tokens", 0),
                    "total_tokens": meta.get("total_tokens", 0),
                },
            }
        )
        self._stop_following(message.pk)

    def _stop_following(self, message_id: int) -> None:
        self.following.pop(message_id, None)
        if self.active_message_id == message_id:
            self.active_message_id = None
        asyncio.get_running_loop().create_task(
            self.channel_layer.group_discard(message_group(message_id), self.channel_name)
        )

    async def _catch_up(self, message_id: int, upto: int) -> None:
        """Fill frames missed on the live group from the checkpoints (bounded wait)."""
        deadline = time.monotonic() + _CATCH_UP_SECONDS
        interval = max(0.02, float(settings.CHAT_STREAM_PERSIST_INTERVAL) / 2)
        while self.following.get(message_id, upto + 1) <= upto:
            message = await database_sync_to_async(_get_message)(message_id)
            await self._replay(message, upto)
            if self.following.get(message_id, upto + 1) > upto or time.monotonic() > deadline:
                break
            await asyncio.sleep(interval)
        if self.following.get(message_id, upto + 1) <= upto:
            logger.warning("stream_gap_unfilled", message_id=message_id, upto=upto)

    # --- channel-layer events ----------------------------------------------------------
    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        message_id = frame.get("message_id")
        expected = self.following.get(message_id)
        if expected is None:
            return
        kind = frame.get("type")
        if kind == "token":
            seq = frame["seq"]
            if seq < expected:
                return  # already replayed from a checkpoint
            if seq > expected:
                await self._catch_up(message_id, seq - 1)
            await self._send(frame)
            self.following[message_id] = seq + 1
        elif kind == "end":
            if frame.get("seq", 0) >= expected:
                await self._catch_up(message_id, frame["seq"])
            await self._send(frame)
            self._stop_following(message_id)
        else:
            await self._send(frame)

    async def auth_revoked(self, event: dict[str, Any]) -> None:
        await self._reject("Your session was revoked; log in again.")
