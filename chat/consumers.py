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
from urllib.parse import parse_qs

import structlog
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import user_from_access_token
from accounts.sessions import user_group_name
from chat.db import chat_db
from chat.generation import Generation, generation_cancel, generation_local, generation_start
from chat.models import ACTIVE_STATUSES, ChatMessage
from chat.recovery import chat_messages_recover_orphans
from chat.selectors import chat_message_get
from chat.services.turns import Turn, chat_turn_prepare
from chat.streams import (
    END,
    FOLLOW_BLOCK_SECONDS,
    TOKEN,
    FrameLogUnavailable,
    entry_id,
    frame_log,
    parse_entry_id,
)
from config.exceptions import ApplicationError, error_envelope, exception_to_envelope
from config.outage import ChannelLayerOutageMixin
from core.actor import Actor, actor_from_scope

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
SUBPROTOCOL = "bearer"
# How long a follower waits for a checkpoint to cover frames missing from the shared log.
_CATCH_UP_SECONDS = 5.0
# How often a follower without a shared log (embedded mode) looks at the database.
_DB_POLL_SECONDS = 0.5


def _get_message(message_id: int) -> ChatMessage:
    return ChatMessage.objects.get(pk=message_id)


def _message_settled(message_id: int, actor: Actor | None = None) -> ChatMessage:
    """The message (the actor's when given), closed first if its generation is lost."""
    if actor is not None:
        message = chat_message_get(actor=actor, message_id=message_id)
    else:
        message = _get_message(message_id)
    if message.status in ACTIVE_STATUSES:
        try:
            recovered = chat_messages_recover_orphans(message_ids=[message_id])
        except Exception:  # heartbeats unreadable (cache down): follow, look again later
            logger.warning("resume_recovery_failed", message_id=message_id, exc_info=True)
            recovered = []
        if recovered:
            message.refresh_from_db()
    return message


def _prepare_turn(
    *,
    scope: dict[str, Any],
    token: str,
    content: str,
    session_id: int | None,
    model: str | None,
    regenerate: bool = False,
) -> tuple[Any, Turn | None]:
    """Re-validate the token, then plan and store the turn: one thread hop before the model.

    The user row loaded here is the actor: its current role decides, not the token's claim.
    A refused rule (unverified email, viewer, rate) is an error frame, not a close."""
    try:
        user = user_from_access_token(token)
    except Exception:  # noqa: BLE001 - any failure means "not authenticated"
        return None, None
    turn = chat_turn_prepare(
        actor=actor_from_scope(scope, user),
        content=content,
        session_id=session_id,
        model=model,
        streaming=True,
        regenerate=regenerate,
    )
    return user, turn


class ChatConsumer(ChannelLayerOutageMixin, AsyncWebsocketConsumer):
    """One client connection. State: who it is, what it follows, what it is generating."""

    async def connect(self) -> None:
        self.user: Any = None
        self.raw_token: str | None = None
        self.active_message_id: int | None = None
        # Messages this socket follows: run here (the generation) or elsewhere (a reader task).
        self.local_follows: dict[int, Generation] = {}
        self.remote_follows: dict[int, asyncio.Task] = {}
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
        following = [*getattr(self, "local_follows", {}), *getattr(self, "remote_follows", {})]
        for message_id in following:
            self._stop_following(message_id)
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
            user, turn = await chat_db(_prepare_turn)(
                scope=self.scope,
                token=self.raw_token or "",
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
                actor=actor_from_scope(self.scope, self.user), message_id=message_id
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
            message = await database_sync_to_async(_message_settled)(
                message_id, actor_from_scope(self.scope, self.user)
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

    async def _replay(self, message: ChatMessage, after_seq: int) -> int:
        """Send the checkpointed token frames after ``after_seq``; return the last seq sent."""
        seq = after_seq
        for frame_seq, content in message.frames_after(after_seq):
            await self._send(
                {"type": "token", "message_id": message.pk, "seq": frame_seq, "content": content}
            )
            seq = frame_seq
        return seq

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
        generation = self.local_follows.pop(message_id, None)
        if generation is not None:
            generation.unfollow(self)
        task = self.remote_follows.pop(message_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.active_message_id == message_id:
            self.active_message_id = None

    async def stream_frame(self, message_id: int, kind: int, seq: int, text: str) -> None:
        """A frame of a generation of this process (already JSON: sent as is)."""
        await self.send(text_data=text)
        if kind == END:
            self._stop_following(message_id)

    async def _fill_gap(self, message_id: int, seq: int, upto: int) -> int:
        """Send frames ``seq+1..upto`` missing from the shared log from the checkpoints."""
        deadline = time.monotonic() + _CATCH_UP_SECONDS
        interval = max(0.02, float(settings.CHAT_STREAM_PERSIST_INTERVAL) / 2)
        while True:
            message = await database_sync_to_async(_get_message)(message_id)
            for frame_seq, content in message.frames_after(seq):
                if frame_seq > upto:
                    break
                frame = {"type": "token", "message_id": message_id, "seq": frame_seq}
                await self._send({**frame, "content": content})
                seq = frame_seq
            if seq >= upto or time.monotonic() > deadline:
                return seq
            await asyncio.sleep(interval)

    async def _follow_remote(self, message_id: int, seq: int) -> None:
        """Follow a generation of another worker from token ``seq`` until its end.

        Reads the message's shared log (``XREAD BLOCK``); when it hears nothing for
        ``CHAT_STREAM_FOLLOW_IDLE`` seconds (at once without a shared log) it asks the
        database, which may close a lost generation: every follow ends with ``end`` or
        ``error``.
        """
        log = frame_log()
        idle = max(0.1, float(settings.CHAT_STREAM_FOLLOW_IDLE))
        after = entry_id(TOKEN, seq)
        quiet_since = time.monotonic()
        try:
            while True:
                entries: list[tuple[str, str]] = []
                if log is None:
                    await asyncio.sleep(min(idle, _DB_POLL_SECONDS))
                else:
                    try:
                        entries = await log.read(
                            message_id, after, block_seconds=min(idle, FOLLOW_BLOCK_SECONDS)
                        )
                    except FrameLogUnavailable as exc:
                        logger.warning("stream_follow_unavailable", error=str(exc))
                        await self._error(
                            message="The server is too busy to follow this answer now; "
                            "resume it again in a moment.",
                            code="SERVICE_UNAVAILABLE",
                            message_id=message_id,
                            details={"retry_after": 1},
                        )
                        return
                for entry, text in entries:
                    kind, entry_seq = parse_entry_id(entry)
                    after = entry
                    if kind == TOKEN:
                        if entry_seq <= seq:
                            continue
                        if entry_seq > seq + 1:
                            seq = await self._fill_gap(message_id, seq, entry_seq - 1)
                            if seq < entry_seq - 1:
                                logger.warning("stream_gap_unfilled", message_id=message_id)
                                await self._error(
                                    message="Part of this answer could not be delivered; "
                                    "resume it to read it from the saved text.",
                                    code="STREAM_INTERRUPTED",
                                    message_id=message_id,
                                    details={"after_seq": seq},
                                )
                                return
                        seq = entry_seq
                    await self.send(text_data=text)
                    if kind == END:
                        return
                if entries:
                    quiet_since = time.monotonic()
                    continue
                if log is not None and time.monotonic() - quiet_since < idle:
                    continue
                message = await database_sync_to_async(_message_settled)(message_id)
                replayed = await self._replay(message, seq)
                if replayed > seq:
                    seq, after = replayed, entry_id(TOKEN, replayed)
                if message.status not in ACTIVE_STATUSES:
                    await self._end_from_db(message)
                    return
                quiet_since = time.monotonic()
        finally:
            if self.remote_follows.get(message_id) is asyncio.current_task():
                self._stop_following(message_id)

    async def auth_revoked(self, event: dict[str, Any]) -> None:
        await self._reject("Your session was revoked; log in again.")
