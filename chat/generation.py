"""Generations that run independently of any socket.

A generation is an asyncio task owned by the process (kept in ``_RUNNING`` so it is never
garbage-collected mid-answer). It streams from the provider, publishes every frame to the
channel-layer group of its message (any socket on any worker may follow it), checkpoints the
partial answer to the database every ``CHAT_STREAM_PERSIST_INTERVAL`` seconds (what ``resume``
replays), and saves the end exactly once. Sockets come and go; the answer is not lost.

Cancellation: a ``cancel`` received by the worker that runs the generation stops it at once;
one received by another worker sets a flag in the shared cache that the generation reads at
its next checkpoint. (A per-generation channel-layer receive would be faster, but cancelling a
channels-redis ``receive`` can drop a message popped for another consumer of the process.)
"""

import asyncio
import contextlib
import time
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

from ai.providers import ProviderError, StreamDelta, StreamEnd, Usage
from ai.providers.tokens import count_message_tokens, count_tokens
from chat.models import MessageStatus
from chat.services import Turn, chat_message_checkpoint, chat_message_finish
from config.exceptions import current_request_id, error_envelope

logger = structlog.get_logger(__name__)

FRAME_EVENT = "chat.frame"  # handled by ChatConsumer.chat_frame
_FINISH_ATTEMPTS = 3

# Strong references to the generations running in this process, by message id.
_RUNNING: dict[int, "Generation"] = {}


def message_group(message_id: int) -> str:
    """Group that receives every frame of one message's generation."""
    return f"chat.msg.{message_id}"


def cancel_key(message_id: int) -> str:
    """Cache key that asks the generation of ``message_id`` (on any worker) to stop."""
    return f"chat:cancel:{message_id}"


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
        self.user_id = user_id
        self.persist_interval = persist_interval
        self.parts: list[str] = []
        self.ends: list[int] = []
        self.length = 0
        self.end: StreamEnd | None = None
        self.ttft_ms: int | None = None
        self.cancel_requested = False
        self.started = started
        self.request_id = current_request_id()
        self.layer = get_channel_layer()
        self.pump: asyncio.Task | None = None
        self.task: asyncio.Task | None = None

    async def _publish(self, frame: dict[str, Any]) -> None:
        await self.layer.group_send(
            message_group(self.message_id), {"type": FRAME_EVENT, "frame": frame}
        )

    async def _checkpoint(self) -> None:
        cancel = await database_sync_to_async(_checkpoint_and_poll)(
            message_id=self.message_id, response="".join(self.parts), token_ends=list(self.ends)
        )
        if cancel:
            self.cancel()

    async def _stream(self) -> None:
        last_checkpoint = time.monotonic()
        stream = self.turn.provider.stream_response(self.turn.prompt, model=self.turn.model)
        async with contextlib.aclosing(stream) as items:
            async for item in items:
                if isinstance(item, StreamEnd):
                    self.end = item
                    continue
                if not isinstance(item, StreamDelta) or not item.text:
                    continue
                if self.ttft_ms is None:
                    self.ttft_ms = int((time.perf_counter() - self.started) * 1000)
                self.parts.append(item.text)
                self.length += len(item.text)
                self.ends.append(self.length)
                await self._publish(
                    {
                        "type": "token",
                        "message_id": self.message_id,
                        "seq": len(self.ends),
                        "content": item.text,
                    }
                )
                # A burst of buffered chunks never suspends the SDK's iterator: yield so the
                # sockets forward this frame now instead of after the burst.
                await asyncio.sleep(0)
                if time.monotonic() - last_checkpoint >= self.persist_interval:
                    await self._checkpoint()
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
            _RUNNING.pop(self.message_id, None)

    async def _finish(self) -> None:
        pump = self.pump
        assert pump is not None
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
                await database_sync_to_async(chat_message_finish)(
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
        if error_frame is not None:
            await self._publish(error_frame)
        await self._publish(
            {
                "type": "end",
                "message_id": self.message_id,
                "status": str(status),
                "seq": len(self.ends),
                "finish_reason": finish_reason,
                "usage": usage_frame(usage),
            }
        )


def generation_start(
    *, turn: Turn, user_id: int, persist_interval: float, started: float | None = None
) -> Generation:
    """Start streaming the stored ``turn`` in a task owned by this process (not by any socket).

    ``started`` (a ``time.perf_counter()`` value) is when the user's message arrived: the
    answer's ``ttft_ms`` and ``latency_ms`` count from there.
    """
    generation = Generation(
        turn=turn,
        user_id=user_id,
        persist_interval=persist_interval,
        started=time.perf_counter() if started is None else started,
    )
    _RUNNING[generation.message_id] = generation
    generation.task = asyncio.get_running_loop().create_task(generation.run())
    return generation


async def generation_cancel(*, message_id: int) -> None:
    """Stop a running generation wherever it runs (the partial answer is kept)."""
    local = _RUNNING.get(message_id)
    if local is not None:
        local.cancel()
        return
    await database_sync_to_async(cache.set)(cancel_key(message_id), 1, timeout=3600)


def _checkpoint_and_poll(*, message_id: int, response: str, token_ends: list[int]) -> bool:
    """Checkpoint, and say whether another worker asked for a cancel (one thread hop)."""
    chat_message_checkpoint(message_id=message_id, response=response, token_ends=token_ends)
    return cache.get(cancel_key(message_id)) is not None


def generation_is_local(*, message_id: int) -> bool:
    """Whether this process is generating ``message_id`` right now."""
    return message_id in _RUNNING


def running_generations() -> int:
    return len(_RUNNING)


async def generations_wait(*, timeout: float) -> None:
    """Wait until every generation of this process has ended (shutdown, tests, benchmarks)."""
    tasks = [g.task for g in _RUNNING.values() if g.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
