"""The embedded server's ASGI handler: one hop per request onto a pool of long-lived threads."""

import asyncio
import threading

import httpx
import pytest
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
