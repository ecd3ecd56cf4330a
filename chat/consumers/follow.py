"""Following a generation on the chat socket: replay from checkpoints, the shared log, the end."""

import asyncio
import time

import structlog
from channels.db import database_sync_to_async
from django.conf import settings

from chat.consumers.base import SocketBase
from chat.consumers.work import get_message, message_settled
from chat.models import ACTIVE_STATUSES, ChatMessage
from chat.streams import (
    END,
    FOLLOW_BLOCK_SECONDS,
    TOKEN,
    FrameLogUnavailable,
    entry_id,
    frame_log,
    parse_entry_id,
)

logger = structlog.get_logger(__name__)

# How long a follower waits for a checkpoint to cover frames missing from the shared log.
_CATCH_UP_SECONDS = 5.0
# How often a follower without a shared log (embedded mode) looks at the database.
_DB_POLL_SECONDS = 0.5


class SocketFollowMixin(SocketBase):
    """Relays the frames of the answers this socket follows, wherever they are generated."""

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
            message = await database_sync_to_async(get_message)(message_id)
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
                            message_id,
                            after,
                            organization_id=self.membership.organization_id,
                            block_seconds=min(idle, FOLLOW_BLOCK_SECONDS),
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
                message = await database_sync_to_async(message_settled)(message_id)
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
