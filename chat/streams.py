"""Per-message frame logs that followers on other workers read (a Redis Stream per message).

A generation hands every frame it publishes to the sockets of its own process directly
(``chat.generation``) and also appends it here, so that a socket on another worker (a
``resume``, a second tab) can read the frames from any position: ``XREAD BLOCK`` from the last
entry it saw. Unlike the channel layer's capped per-process queue, a log is never silently
lossy: a follower knows the position it expects, and a gap (a trimmed or unwritten entry) is
filled from the database checkpoint or reported.

Entry ids encode the frame: ``<seq>-0`` is token frame ``seq``, ``<seq>-1`` an error after
token ``seq`` and ``<seq>-2`` the end frame, so "after token ``n``" is simply ``XREAD`` after
``n-0``. Appends never wait on Redis: they are queued and written in pipelined batches by one
writer task per process on its own connection; reads use a separate bounded pool
(``CHAT_STREAM_REDIS_MAX_CONNECTIONS``) whose exhaustion is an error the follower reports,
never a hang.

In the embedded mode (no ``REDIS_URL``) there is one process, so a generation's own in-memory
log (``Generation.log``) is the only log and :func:`frame_log` returns ``None``.
"""

import asyncio
import weakref
from typing import Any

import structlog
from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import RedisError

logger = structlog.get_logger(__name__)

TOKEN, ERROR, END = 0, 1, 2
# Appends waiting for the writer; beyond this (Redis down or far too slow) entries are dropped
# from the log (followers then fill from the database checkpoints) rather than eating memory.
MAX_PENDING_APPENDS = 100_000
# Longest single XREAD BLOCK of a follower (it then checks its socket and the database).
FOLLOW_BLOCK_SECONDS = 2.0


class FrameLogUnavailable(Exception):
    """The log cannot be read now (Redis down, or every connection of the pool is busy)."""


def entry_id(kind: int, seq: int) -> str:
    return f"{seq}-{kind}"


def parse_entry_id(value: str | bytes) -> tuple[int, int]:
    """``(kind, seq)`` of an entry id."""
    text = value.decode() if isinstance(value, bytes) else value
    seq, _, kind = text.partition("-")
    return int(kind), int(seq)


class RedisFrameLog:
    """Redis Streams, one per message: batched appends, blocking reads from a bounded pool."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        max_connections: int,
        pool_timeout: float,
        maxlen: int,
        ttl: int,
        block_seconds: float,
    ) -> None:
        self.prefix = prefix
        self.maxlen = maxlen
        self.ttl = ttl
        # A blocked XREAD holds its connection: the socket timeout must outlast the block.
        socket_kwargs: dict[str, Any] = {
            "socket_connect_timeout": 2,
            "socket_timeout": block_seconds + 5,
        }
        self.readers = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=pool_timeout, **socket_kwargs
            )
        )
        # The writer has its own connection, so that busy followers never delay the log.
        self.writer = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                url, max_connections=1, timeout=10, **socket_kwargs
            )
        )
        self._pending: list[tuple[str, str, str]] = []
        self._task: asyncio.Task | None = None
        self._dropped = 0

    def key(self, message_id: int, organization_id: Any) -> str:
        # The organization is part of the name: a log is only ever read in the organization
        # its message belongs to, and an operator can find (or drop) an organization's logs.
        return f"{self.prefix}:chat:stream:{organization_id}:{message_id}"

    def append(
        self, message_id: int, kind: int, seq: int, text: str, *, organization_id: Any
    ) -> None:
        """Queue one frame for the log (never waits; written by the writer task in order)."""
        if len(self._pending) >= MAX_PENDING_APPENDS:
            self._dropped += 1
            if self._dropped == 1:
                logger.error("stream_log_backlog_full", pending=len(self._pending))
            return
        self._pending.append((self.key(message_id, organization_id), entry_id(kind, seq), text))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            pipe = self.writer.pipeline(transaction=False)
            keys: set[str] = set()
            for key, entry, text in batch:
                keys.add(key)
                pipe.xadd(key, {"f": text}, id=entry, maxlen=self.maxlen, approximate=True)
            for key in keys:
                pipe.expire(key, self.ttl)
            try:
                # Per-entry errors (an id already written by a retried batch) are harmless.
                await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                logger.warning("stream_log_write_failed", entries=len(batch), error=str(exc))
        self._dropped = 0

    async def drain(self) -> None:
        """Wait until every queued append is written (tests, benchmarks, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def read(
        self,
        message_id: int,
        after: str,
        *,
        organization_id: Any,
        block_seconds: float,
        count: int = 512,
    ) -> list[tuple[str, str]]:
        """Entries after id ``after`` as ``(id, frame text)``; waits up to ``block_seconds``."""
        try:
            response = await self.readers.xread(
                {self.key(message_id, organization_id): after},
                count=count,
                block=int(block_seconds * 1000),
            )
        except (RedisError, OSError) as exc:
            raise FrameLogUnavailable(str(exc)) from exc
        entries: list[tuple[str, str]] = []
        for _key, items in response or []:
            for item_id, fields in items:
                value = fields.get(b"f", b"")
                entries.append((item_id.decode(), value.decode()))
        return entries


# One log per event loop: redis.asyncio connections belong to the loop that opened them.
_LOGS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisFrameLog]" = (
    weakref.WeakKeyDictionary()
)


def frame_log() -> RedisFrameLog | None:
    """This process's cross-worker frame log, or ``None`` in the embedded mode."""
    url = settings.REDIS_URL
    if not url:
        return None
    loop = asyncio.get_running_loop()
    log = _LOGS.get(loop)
    if log is None:
        log = RedisFrameLog(
            url=url,
            prefix=settings.CACHES["default"].get("KEY_PREFIX") or "aichat",
            max_connections=int(settings.CHAT_STREAM_REDIS_MAX_CONNECTIONS),
            pool_timeout=float(settings.CHAT_STREAM_REDIS_POOL_TIMEOUT),
            maxlen=int(settings.CHAT_STREAM_LOG_MAXLEN),
            ttl=int(settings.CHAT_STREAM_LOG_TTL),
            block_seconds=FOLLOW_BLOCK_SECONDS,
        )
        _LOGS[loop] = log
    return log
