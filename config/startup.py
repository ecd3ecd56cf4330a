"""What an ASGI serving process does once, as it starts (before its first request).

* **Recovery**: answers left ``streaming`` by a worker that died (this one, before a restart)
  are closed as ``incomplete`` now, not at the first generation or the next periodic sweep; a
  second pass runs once their heartbeat grace (``CHAT_HEARTBEAT_TTL``) has passed, for a worker
  that died just before this one started.
* **Warm-up**: the provider SDK is imported and this loop's pooled client built, the token
  encoding loaded. Profiled: done lazily, the first generation paid about 0.4 s for imports
  and client construction, on the thread every other socket's database work waits for.
* **gc.freeze()**: everything loaded so far (Django, the SDKs, the URL and model registries)
  is moved out of the collector's generations, so full collections under load walk only what
  requests allocate.

uvicorn (``config.serve``, ``make run``, the compose ``ws`` service) calls this through the
ASGI lifespan protocol (:class:`LifespanMiddleware`). Servers without lifespan (Daphne) get the
recovery at their first generation (``chat.generation``) and the warm-up at first use.
"""

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from channels.db import database_sync_to_async
from django.conf import settings

logger = structlog.get_logger(__name__)

_STARTUP_SWEEP_TIMEOUT = 30.0
# Strong references to background startup tasks (asyncio keeps only weak ones).
_BACKGROUND: set[asyncio.Task] = set()


def _warm_up_sync() -> None:
    from ai.providers.tokens import count_tokens

    count_tokens("warm up")  # loads the encoding (tens of MB) once
    if settings.AI_PROVIDER in ("openai", "azure"):
        import ai.providers.openai_compat.provider  # noqa: F401 - the SDK's import is the slow part


async def _sweep(label: str) -> None:
    from chat.recovery import chat_messages_recover_orphans

    try:
        recovered = await asyncio.wait_for(
            database_sync_to_async(chat_messages_recover_orphans)(), _STARTUP_SWEEP_TIMEOUT
        )
    except Exception:  # the periodic sweep (beat, the embedded timer) does it later
        logger.warning("startup_sweep_failed", when=label, exc_info=True)
        return
    if recovered:
        logger.warning("startup_sweep_recovered", when=label, message_ids=recovered)


async def _sweep_after_grace() -> None:
    await asyncio.sleep(float(settings.CHAT_HEARTBEAT_TTL) + 1.0)
    await _sweep("after_grace")


async def process_startup() -> None:
    """Recover, warm up and freeze (see the module docstring); never raises."""
    from chat.generation.running import mark_swept

    mark_swept()
    await _sweep("start")
    task = asyncio.get_running_loop().create_task(_sweep_after_grace())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    try:
        await asyncio.to_thread(_warm_up_sync)
        from ai.providers import get_provider

        provider = get_provider(pooled=True)
        getattr(provider, "client", None)  # builds this loop's shared client
    except Exception:  # a misconfigured provider is reported where it is used
        logger.warning("startup_warm_up_failed", exc_info=True)
    gc.collect()
    gc.freeze()
    logger.info("process_started", frozen_objects=gc.get_freeze_count())


async def process_shutdown() -> None:
    for task in list(_BACKGROUND):
        task.cancel()


class LifespanMiddleware:
    """Answers the ASGI ``lifespan`` scope (Django and Channels do not) around ``app``."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await process_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await process_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
