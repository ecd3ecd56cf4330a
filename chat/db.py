"""Where the chat's per-answer database work runs in an ASGI process (``CHAT_DB_THREADS``).

``database_sync_to_async`` runs every call on one shared thread (asgiref's thread-sensitive
mode): with hundreds of answers starting at once, each turn's few round trips queued behind
all the others'. On PostgreSQL the chat's own calls (storing a turn, checkpoints, the end) run
on a small pool of threads instead, each with its own pooled connection; on SQLite (one writer)
they stay on the shared thread.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings

_EXECUTOR: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor | None:
    global _EXECUTOR
    threads = int(getattr(settings, "CHAT_DB_THREADS", 0))
    if threads <= 0:
        return None
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chat-db")
    return _EXECUTOR


def chat_db(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as an awaitable on the chat's database threads (closing stale connections
    around each call, as ``database_sync_to_async`` does)."""
    executor = _executor()
    if executor is None:
        return database_sync_to_async(func)
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor)
