"""Django's ASGI handler for the embedded server, with one thread hop per request.

Measured (``tests/performance/bench_rest.py``, py-spy on ``make run`` under ``wrk``), Django's
own ``ASGIHandler`` spent most of a REST request's time on thread plumbing rather than on the
request:

* it runs each request's sync code in a **new thread** (``ThreadSensitiveContext`` creates a
  one-thread executor per request), so every request also opened a **new database connection**
  (Django's connections are per thread): for SQLite the connect, its pragmas and functions;
* its middleware chain is built in async mode, and every ``MiddlewareMixin`` middleware then
  runs ``process_request``/``process_response`` through ``sync_to_async`` (two hops each), and
  WhiteNoise (sync only) adds an ``async_to_sync`` in the middle, which from that per-request
  thread starts yet another event loop in yet another thread.

This handler builds the middleware chain in sync mode, as under WSGI, and runs the whole chain
and the view in **one** ``sync_to_async`` call; that call goes to one of a fixed pool of
long-lived threads (``ASGI_SYNC_THREADS``, the least busy one), which keep their database
connections between requests (``CONN_MAX_AGE``). A slow sync request holds one thread of the pool,
not the others. Async views still work (Django runs them with ``async_to_sync``, on the server's
loop), and streaming responses are streamed by the handler as before.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class _ThreadPool:
    """``size`` one-thread executors; a request takes the least busy (ties: the lowest)."""

    def __init__(self, size: int) -> None:
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{i}")
            for i in range(max(1, size))
        ]
        self._busy = [0] * len(self._executors)
        self._lock = threading.Lock()

    def acquire(self) -> int:
        with self._lock:
            index = min(range(len(self._busy)), key=self._busy.__getitem__)
            self._busy[index] += 1
            return index

    def release(self, index: int) -> None:
        with self._lock:
            self._busy[index] -= 1

    def executor(self, index: int) -> ThreadPoolExecutor:
        return self._executors[index]


class PooledSyncASGIHandler(ASGIHandler):
    """``ASGIHandler`` with a sync middleware chain run in one hop on a pooled thread."""

    def __init__(self, threads: int) -> None:
        self._pool = _ThreadPool(threads)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # The chain as under WSGI: no per-middleware thread hops.
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        index = self._pool.acquire()
        try:
            # Every thread-sensitive sync call of this request (signals, the chain, closing the
            # response) runs on the pooled thread; the context does not shut it down on exit.
            async with ThreadSensitiveContext(executor=self._pool.executor(index)):
                await self.handle(scope, receive, send)
        finally:
            self._pool.release(index)
