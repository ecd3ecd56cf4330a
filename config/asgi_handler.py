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

Django's ``handle`` also sends ``request_started`` with ``asend`` before that call; its receivers
are all sync (``close_old_connections``, ``reset_queries``), so that was a second round trip to
the pooled thread before the view ran. Measured on ``/v1/chat/completions`` (the instrumented
server of the OpenAI bench): the loop-to-thread-and-back trips cost 1-4 ms each under load, and
they come before the first byte. Here the signal is sent at the start of the same hop, on the
same thread (where the connection it checks lives), so a request makes one trip before its
response starts and one after it ends (``response.close``, which sends ``request_finished``).
"""

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix


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
        return await sync_to_async(self._started_and_get_response, thread_sensitive=True)(request)

    def _started_and_get_response(self, request: HttpRequest) -> HttpResponseBase:
        # ``request_started`` in the same hop as the chain (see the module docstring).
        signals.request_started.send(sender=self.__class__, scope=request.scope)  # type: ignore[attr-defined]
        return self.get_response(request)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler.handle`` (5.2) without its ``request_started.asend`` hop.

        The rest is Django's code unchanged: the disconnect listener beside the response task,
        and ``response.close`` (which sends ``request_finished``) on the pooled thread.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request answers one or the other
            # No request to carry the signal into the chain's hop: send it as Django does.
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request: HttpRequest, send: Any) -> HttpResponseBase:
            response = await self.run_get_response(request)
            # A client that disconnects during send_response is not an error.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        # The disconnect listener goes first: it must not keep process_request from being
        # cancelled by raising an unexpected error.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass  # client disconnects are not errors
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()  # views may handle the cancellation
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = cast(HttpResponseBase, tasks[1].result())
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(response.close)()
        body_file.close()

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
