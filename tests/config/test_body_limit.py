"""Oversized request bodies are refused before they are buffered (issue 15, item 6).

These drive the real ASGI application (``config.asgi.application``) with a client that streams a
body chunk by chunk and count how much of it the application pulled: the guard must stop reading
just past the limit, where Django's handler alone would read (and spool) the whole body first.
"""

import asyncio
import json

import pytest
from django.conf import settings

CHUNK = 64 * 1024


class StreamingClient:
    """An ASGI client that sends ``total`` bytes in ``CHUNK``-sized messages and counts reads."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0
        self.receive_calls = 0
        self.sent: list[dict] = []
        self.answered = asyncio.Event()

    async def receive(self) -> dict:
        self.receive_calls += 1
        if self.pulled >= self.total:
            await self.answered.wait()  # a client waits for its answer before it goes away
            return {"type": "http.disconnect"}
        size = min(CHUNK, self.total - self.pulled)
        self.pulled += size
        return {"type": "http.request", "body": b"x" * size, "more_body": self.pulled < self.total}

    async def send(self, message: dict) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.answered.set()

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(path: str, client: StreamingClient, headers=()) -> None:
    from config.asgi import application

    await application(_scope(path, list(headers)), client.receive, client.send)


@pytest.mark.django_db(transaction=True)
async def test_chunked_body_over_the_limit_is_cut_off_unbuffered():
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    client = StreamingClient(total=64 * limit)  # 64 MB streamed, no Content-Length
    await _call("/api/v1/auth/login", client, [(b"transfer-encoding", b"chunked")])
    assert client.status == 413
    body = json.loads(client.body)
    assert body["code"] == "PAYLOAD_TOO_LARGE" and body["details"]["max_bytes"] == limit
    assert client.pulled <= limit + CHUNK  # stopped one chunk past the limit
    assert client.headers[b"connection"] == b"close"  # the rest is never read


@pytest.mark.django_db(transaction=True)
async def test_declared_length_over_the_limit_is_refused_without_reading():
    client = StreamingClient(total=600 * 1024 * 1024)
    await _call("/api/v1/auth/login", client, [(b"content-length", str(client.total).encode())])
    assert client.status == 413
    assert client.receive_calls == 0
    assert json.loads(client.body)["request_id"] == client.headers[b"x-request-id"].decode()


@pytest.mark.django_db(transaction=True)
async def test_only_the_upload_route_takes_large_bodies():
    big = 3 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert big < settings.DOCUMENT_MAX_UPLOAD_BYTES
    upload = StreamingClient(total=big)
    await _call("/api/v1/documents", upload, [(b"content-length", str(big).encode())])
    assert upload.status == 401  # read in full, then refused for want of a token
    assert upload.pulled == big
    other = StreamingClient(total=big)
    await _call("/api/v1/chat/message", other, [(b"transfer-encoding", b"chunked")])
    assert other.status == 413
    within = StreamingClient(total=settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 2)
    await _call("/api/v1/", within, [(b"transfer-encoding", b"chunked")])
    assert within.status == 405  # a body under the limit reaches Django, which answers
    assert within.pulled == within.total


@pytest.mark.django_db(transaction=True)
async def test_upload_route_is_capped_too():
    limit = settings.DOCUMENT_MAX_UPLOAD_BYTES + 1024 * 1024
    client = StreamingClient(total=limit + 10 * CHUNK)
    await _call("/api/v1/documents", client, [(b"transfer-encoding", b"chunked")])
    assert client.status == 413
    assert client.pulled <= limit + CHUNK
