"""Generations that run independently of any socket.

A generation is an asyncio task owned by the process (kept in ``running.RUNNING`` so it is never
garbage-collected mid-answer). It streams from the provider and publishes frames:

- deltas are coalesced into token frames: the first one goes out at once (time to first token
  does not grow), later ones every ``CHAT_STREAM_COALESCE_MS`` or ``CHAT_STREAM_COALESCE_CHARS``,
  whichever comes first - one frame, one JSON encoding and one send per window instead of per
  delta;
- each frame is appended to the generation's in-memory log and handed directly to the sockets
  of this process that follow it (no channel layer, no Redis round trip per frame); each
  follower has a cursor over the log, so a socket that joins late (``resume``, a second tab)
  replays from its position and then follows live, in order, without a gap;
- each frame is also appended to the message's cross-worker log (``chat.streams``: a Redis
  Stream in the scaled mode), which sockets on other workers follow.

It checkpoints the partial answer to the database every ``CHAT_STREAM_PERSIST_INTERVAL``
seconds (what a follower falls back on), keeps a heartbeat per message (``chat.recovery``), and
saves the end exactly once. Sockets come and go; the answer is not lost.

Cancellation: a ``cancel`` received by the worker that runs the generation stops it at once;
one received by another worker sets a flag in the shared cache that this process reads with
its heartbeat and at each checkpoint.
"""

import asyncio
import contextlib
import json
import time
from typing import Any, Protocol

import structlog
from django.conf import settings
from django.core.cache import cache

from ai.providers import ProviderError, StreamDelta, StreamEnd, Usage
from ai.providers.tokens import count_message_tokens, count_tokens
from chat.db import chat_db
from chat.generation.running import RUNNING, ensure_heartbeat, heartbeat_stop_if_idle
from chat.models import MessageStatus
from chat.recovery import cancel_key
from chat.services.finish import chat_message_checkpoint, chat_message_finish
from chat.services.turns import Turn
from chat.streams import END, ERROR, TOKEN, RedisFrameLog, frame_log
from config.exceptions import current_request_id, error_envelope

logger = structlog.get_logger(__name__)

_FINISH_ATTEMPTS = 3


class FrameSink(Protocol):
    """What receives a generation's frames: a socket of this process."""

    async def stream_frame(self, message_id: int, kind: int, seq: int, text: str) -> None: ...


class _Follower:
    """A sink's position in a generation's log."""

    __slots__ = ("after_seq", "busy", "cursor", "sink")

    def __init__(self, sink: FrameSink, *, cursor: int, after_seq: int) -> None:
        self.sink = sink
        self.cursor = cursor
        self.after_seq = after_seq
        self.busy = False


def usage_frame(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


class Generation:
    def __init__(
        self, *, turn: Turn, user_id: int, persist_interval: float, started: float
    ) -> None:
        self.turn = turn
        self.message_id: int = turn.message.pk
        self.organization_id = turn.message.organization_id
        self.user_id = user_id
        self.persist_interval = persist_interval
        # Published token frames: their contents and end offsets (seq n = index n - 1).
        self.parts: list[str] = []
        self.ends: list[int] = []
        self.length = 0
        # Deltas received but not yet published (the coalescing window).
        self.pending: list[str] = []
        self.pending_chars = 0
        self.deltas = 0
        self.coalesce_seconds = max(0.0, float(settings.CHAT_STREAM_COALESCE_MS) / 1000)
        self.coalesce_chars = max(1, int(settings.CHAT_STREAM_COALESCE_CHARS))
        self.last_flush = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_task: asyncio.Task | None = None
        # Every frame published, in order, as ``(kind, seq, JSON text)``: the in-process log.
        self.log: list[tuple[int, int, str]] = []
        self.followers: dict[int, _Follower] = {}
        self.shared_log: RedisFrameLog | None = frame_log()
        self.end: StreamEnd | None = None
        self.ttft_ms: int | None = None
        self.cancel_requested = False
        self.started = started
        self.request_id = current_request_id()
        self.pump: asyncio.Task | None = None
        self.task: asyncio.Task | None = None
        self.checkpoint_task: asyncio.Task | None = None

    # --- publishing ----------------------------------------------------------------------
    async def _publish(self, kind: int, seq: int, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        self.log.append((kind, seq, text))
        if self.shared_log is not None:
            self.shared_log.append(
                self.message_id, kind, seq, text, organization_id=self.organization_id
            )
        for follower in list(self.followers.values()):
            if not follower.busy:
                await self._deliver(follower)

    async def _deliver(self, follower: _Follower) -> None:
        """Send ``follower`` every log entry past its cursor, in order (one sender at a time)."""
        follower.busy = True
        try:
            while follower.cursor < len(self.log):
                kind, seq, text = self.log[follower.cursor]
                follower.cursor += 1
                if kind == TOKEN and seq <= follower.after_seq:
                    continue
                await follower.sink.stream_frame(self.message_id, kind, seq, text)
        except Exception:  # a broken socket must not stop the answer
            logger.info("stream_follower_dropped", message_id=self.message_id, exc_info=True)
            self.followers.pop(id(follower.sink), None)
        finally:
            follower.busy = False

    async def follow(self, sink: FrameSink, *, after_seq: int = 0) -> None:
        """Send ``sink`` the frames after token ``after_seq``, then every new one live."""
        cursor = min(max(after_seq, 0), len(self.ends))
        follower = _Follower(sink, cursor=cursor, after_seq=after_seq)
        self.followers[id(sink)] = follower
        await self._deliver(follower)

    def unfollow(self, sink: FrameSink) -> None:
        self.followers.pop(id(sink), None)

    async def _flush(self) -> None:
        """Publish the pending deltas as one token frame."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        text = self.pending[0] if len(self.pending) == 1 else "".join(self.pending)
        self.pending.clear()
        self.pending_chars = 0
        self.last_flush = asyncio.get_running_loop().time()
        self.parts.append(text)
        self.length += len(text)
        self.ends.append(self.length)
        seq = len(self.ends)
        frame = {"type": "token", "message_id": self.message_id, "seq": seq, "content": text}
        await self._publish(TOKEN, seq, frame)

    def _on_timer(self) -> None:
        self.timer = None
        if self.pending:
            self.timer_task = asyncio.get_running_loop().create_task(self._flush())

    async def _checkpoint(self) -> None:
        try:
            cancel = await chat_db(_checkpoint_and_poll)(
                message_id=self.message_id,
                response="".join(self.parts),
                token_ends=list(self.ends),
            )
        except Exception:  # the next checkpoint (or the end) saves it
            logger.warning("checkpoint_failed", message_id=self.message_id, exc_info=True)
            return
        if cancel:
            self.cancel()

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        last_checkpoint = time.monotonic()
        stream = self.turn.provider.stream_response(self.turn.prompt, model=self.turn.model)
        async with contextlib.aclosing(stream) as items:
            async for item in items:
                if isinstance(item, StreamEnd):
                    self.end = item
                    continue
                if not isinstance(item, StreamDelta) or not item.text:
                    continue
                self.deltas += 1
                self.pending.append(item.text)
                self.pending_chars += len(item.text)
                if self.ttft_ms is None:
                    # The first delta goes out at once: coalescing never delays the first token.
                    self.ttft_ms = int((time.perf_counter() - self.started) * 1000)
                    await self._flush()
                elif (
                    self.pending_chars >= self.coalesce_chars
                    or loop.time() - self.last_flush >= self.coalesce_seconds
                ):
                    await self._flush()
                elif self.timer is None:
                    # A pause in the stream must not hold what has arrived.
                    due = self.last_flush + self.coalesce_seconds
                    self.timer = loop.call_at(due, self._on_timer)
                if time.monotonic() - last_checkpoint >= self.persist_interval and (
                    self.checkpoint_task is None or self.checkpoint_task.done()
                ):
                    # In the background, one at a time: with many answers streaming, the
                    # database's queue must not hold up this one's frames.
                    self.checkpoint_task = loop.create_task(self._checkpoint())
                    last_checkpoint = time.monotonic()

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()

    async def run(self) -> None:
        self.pump = asyncio.create_task(self._stream())
        try:
            await asyncio.wait({self.pump})
            await self._finish()
        finally:
            # The provider's HTTP client stays open: it is this loop's pool for the next answer.
            RUNNING.pop(self.message_id, None)
            if self.timer is not None:
                self.timer.cancel()
            heartbeat_stop_if_idle()

    async def _finish(self) -> None:
        pump = self.pump
        assert pump is not None
        # What arrived inside the last coalescing window is part of the answer.
        await self._flush()
        if self.checkpoint_task is not None:
            # Not needed for the answer (the end supersedes it), only to not leave it running.
            await asyncio.wait({self.checkpoint_task})
        error_frame: dict[str, Any] | None = None
        error_info: dict[str, Any] | None = None
        if pump.cancelled():
            status = MessageStatus.CANCELLED
        elif pump.exception() is not None:
            exc = pump.exception()
            status = MessageStatus.INCOMPLETE if self.parts else MessageStatus.FAILED
            if isinstance(exc, ProviderError):
                error_info = {"kind": exc.kind, "message": str(exc)}
                envelope = error_envelope(
                    message=str(exc),
                    code="AI_PROVIDER_ERROR",
                    details={"kind": exc.kind, "partial": bool(self.parts)},
                    request_id=self.request_id,
                )
            else:
                logger.error("generation_failed", message_id=self.message_id, exc_info=exc)
                error_info = {"kind": "internal", "message": "Internal error."}
                envelope = error_envelope(
                    message="An internal error occurred.",
                    code="INTERNAL_ERROR",
                    request_id=self.request_id,
                )
            error_frame = {"type": "error", "message_id": self.message_id, **envelope}
        else:
            status = MessageStatus.COMPLETE
        text = "".join(self.parts)
        if self.end is not None:
            usage, model, finish_reason = self.end.usage, self.end.model, self.end.finish_reason
        else:
            usage = Usage(count_message_tokens(self.turn.prompt), count_tokens(text), False)
            model, finish_reason = self.turn.model, status
        latency_ms = int((time.perf_counter() - self.started) * 1000)
        for attempt in range(_FINISH_ATTEMPTS):
            try:
                await chat_db(chat_message_finish)(
                    message_id=self.message_id,
                    user_id=self.user_id,
                    status=status,
                    response=text,
                    token_ends=list(self.ends),
                    provider=self.turn.provider.name,
                    model=model,
                    usage=usage,
                    latency_ms=latency_ms,
                    ttft_ms=self.ttft_ms,
                    finish_reason=finish_reason,
                    error=error_info,
                    request_id=self.request_id,
                    reservation_id=self.turn.reservation_id,
                )
                break
            except Exception:  # noqa: BLE001 - the database may blink; the answer must land
                logger.warning("generation_save_retry", message_id=self.message_id, attempt=attempt)
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            logger.error("generation_save_failed", message_id=self.message_id)
        # The end is published only once it is saved: a follower that reads the database
        # after this frame finds the final answer.
        seq = len(self.ends)
        if error_frame is not None:
            await self._publish(ERROR, seq, error_frame)
        await self._publish(
            END,
            seq,
            {
                "type": "end",
                "message_id": self.message_id,
                "status": str(status),
                "seq": seq,
                "finish_reason": finish_reason,
                "usage": usage_frame(usage),
            },
        )


def generation_start(
    *,
    turn: Turn,
    user_id: int,
    persist_interval: float,
    started: float | None = None,
    sink: FrameSink | None = None,
) -> Generation:
    """Start streaming the stored ``turn`` in a task owned by this process (not by any socket).

    ``started`` (a ``time.perf_counter()`` value) is when the user's message arrived: the
    answer's ``ttft_ms`` and ``latency_ms`` count from there. ``sink`` (the asking socket)
    follows the answer from its first frame.
    """
    generation = Generation(
        turn=turn,
        user_id=user_id,
        persist_interval=persist_interval,
        started=time.perf_counter() if started is None else started,
    )
    if sink is not None:
        generation.followers[id(sink)] = _Follower(sink, cursor=0, after_seq=0)
    RUNNING[generation.message_id] = generation
    generation.task = asyncio.get_running_loop().create_task(generation.run())
    ensure_heartbeat()
    return generation


def _checkpoint_and_poll(*, message_id: int, response: str, token_ends: list[int]) -> bool:
    """Checkpoint, and say whether another worker asked for a cancel (one thread hop)."""
    chat_message_checkpoint(message_id=message_id, response=response, token_ends=token_ends)
    return cache.get(cancel_key(message_id)) is not None
