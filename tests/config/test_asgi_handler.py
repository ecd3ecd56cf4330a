"""The embedded server's ASGI handler: one hop per request onto a pool of long-lived threads."""

import asyncio
import threading

import httpx
import pytest
from django.core import signals
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.asgi_handler import PooledSyncASGIHandler

pytestmark = pytest.mark.urls(__name__)

_release = threading.Event()


class ThreadView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    def get(self, request):
        if request.query_params.get("block"):
            _release.wait(timeout=10)
        return Response({"thread": threading.current_thread().name})


urlpatterns = [path("thread", ThreadView.as_view())]


def _client(handler: PooledSyncASGIHandler) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=handler), base_url="http://testserver"
    )


def test_the_middleware_chain_is_sync():
    handler = PooledSyncASGIHandler(threads=2)
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)


async def test_requests_reuse_the_same_long_lived_thread():
    handler = PooledSyncASGIHandler(threads=4)
    async with _client(handler) as client:
        names = set()
        for _ in range(5):
            response = await asyncio.wait_for(client.get("/thread"), timeout=10)
            assert response.status_code == 200
            names.add(response.json()["thread"])
    # Sequential requests all find thread 0 idle: its database connection is kept.
    assert len(names) == 1 and next(iter(names)).startswith("django-sync-0")


async def test_a_blocked_request_holds_one_thread_not_the_pool():
    handler = PooledSyncASGIHandler(threads=2)
    _release.clear()
    async with _client(handler) as client:
        blocked = asyncio.create_task(client.get("/thread?block=1"))
        try:
            await asyncio.sleep(0.2)
            fast = await asyncio.wait_for(client.get("/thread"), timeout=5)
            assert fast.status_code == 200
            assert fast.json()["thread"].startswith("django-sync-1")
            assert not blocked.done()
        finally:
            _release.set()
        slow = await asyncio.wait_for(blocked, timeout=10)
    assert slow.json()["thread"].startswith("django-sync-0")


async def test_one_trip_to_the_pool_before_the_response_starts():
    """``request_started`` runs in the chain's hop, on the view's thread: one trip, not two."""
    handler = PooledSyncASGIHandler(threads=1)
    executor = handler._pool.executor(0)
    submitted: list[str] = []
    submit = executor.submit

    def counting_submit(fn, /, *args, **kwargs):
        submitted.append(getattr(fn, "__qualname__", repr(fn)))
        return submit(fn, *args, **kwargs)

    started_on: list[str] = []

    def on_started(**kwargs):
        started_on.append(threading.current_thread().name)

    executor.submit = counting_submit  # type: ignore[method-assign]
    signals.request_started.connect(on_started)
    trips_at_start: list[int] = []

    async def app(scope, receive, send):
        async def counted_send(message):
            if message["type"] == "http.response.start":
                trips_at_start.append(len(submitted))
            await send(message)

        await handler(scope, receive, counted_send)

    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await asyncio.wait_for(client.get("/thread"), timeout=10)
    finally:
        signals.request_started.disconnect(on_started)
    assert response.status_code == 200
    assert started_on == [response.json()["thread"]]
    assert trips_at_start == [1]
    # And one more after the body: response.close (request_finished) on the same thread.
    assert len(submitted) == 2


async def test_an_undecodable_request_still_sends_request_started():
    """No request object to carry the signal into the hop: it is sent before the 400."""
    handler = PooledSyncASGIHandler(threads=1)
    started: list[bool] = []
    sent: list[dict] = []

    def on_started(**kwargs):
        started.append(True)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/thread",
        "raw_path": b"/thread",
        "query_string": b"q=\xff",  # not UTF-8: create_request answers 400 itself
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    signals.request_started.connect(on_started)
    try:
        await asyncio.wait_for(handler(scope, receive, send), timeout=10)
    finally:
        signals.request_started.disconnect(on_started)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert started == [True]
