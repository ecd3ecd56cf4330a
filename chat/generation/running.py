"""The generations this process runs: their registry, the process's heartbeat, cancel and wait."""

import asyncio
from typing import TYPE_CHECKING

import structlog
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from chat.recovery import cancel_key, chat_messages_recover_orphans, heartbeats_refresh
from chat.streams import frame_log

if TYPE_CHECKING:
    from chat.generation.generation import Generation

logger = structlog.get_logger(__name__)

# Strong references to the generations running in this process, by message id.
RUNNING: dict[int, "Generation"] = {}
# The process's heartbeat task (one for all its generations).
_HEARTBEAT: asyncio.Task | None = None
# Whether this process has swept for lost answers since it started.
_SWEPT = False


async def _heartbeat_loop() -> None:
    """Beat for every generation of this process; stop those cancelled from other workers.

    Under a server without the ASGI lifespan (Daphne), the first beat of a process also
    sweeps: answers left by a worker that died (this one, before a restart) are closed
    without waiting for anyone to look at them. uvicorn sweeps at start (``config.startup``).
    """
    global _SWEPT
    interval = max(0.05, float(settings.CHAT_HEARTBEAT_INTERVAL))
    if not _SWEPT:
        _SWEPT = True
        try:
            await database_sync_to_async(chat_messages_recover_orphans)()
        except Exception:  # the periodic sweep will do it
            logger.warning("startup_sweep_failed", exc_info=True)
    while RUNNING:
        try:
            asked = await asyncio.to_thread(heartbeats_refresh, list(RUNNING))
        except Exception:  # a cache blip must not stop the beat
            logger.warning("heartbeat_failed", exc_info=True)
        else:
            for message_id in asked:
                generation = RUNNING.get(message_id)
                if generation is not None:
                    generation.cancel()
        await asyncio.sleep(interval)


def mark_swept() -> None:
    """The process start swept already (``config.startup``): the first beat need not."""
    global _SWEPT
    _SWEPT = True


def ensure_heartbeat() -> None:
    global _HEARTBEAT
    loop = asyncio.get_running_loop()
    if _HEARTBEAT is None or _HEARTBEAT.done() or _HEARTBEAT.get_loop() is not loop:
        _HEARTBEAT = loop.create_task(_heartbeat_loop())


def heartbeat_stop_if_idle() -> None:
    """Stop the heartbeat once this process runs no generation (the next start restarts it)."""
    if not RUNNING and _HEARTBEAT is not None:
        _HEARTBEAT.cancel()


def generation_local(*, message_id: int) -> "Generation | None":
    """The generation of ``message_id`` if this process runs it."""
    return RUNNING.get(message_id)


async def generation_cancel(*, message_id: int) -> None:
    """Stop a running generation wherever it runs (the partial answer is kept)."""
    local = RUNNING.get(message_id)
    if local is not None:
        local.cancel()
        return
    await database_sync_to_async(cache.set)(cancel_key(message_id), 1, timeout=3600)


async def generations_wait(*, timeout: float) -> None:
    """Wait until every generation of this process has ended and its frames are in the shared
    log (shutdown, tests, benchmarks)."""
    tasks = [g.task for g in RUNNING.values() if g.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
    log = frame_log()
    if log is not None:
        await asyncio.wait_for(log.drain(), timeout=timeout)
