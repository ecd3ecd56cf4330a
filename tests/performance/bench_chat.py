"""Chat benchmarks (run with ``make bench``; not part of the default test run).

(a) time to first token over the WebSocket vs a direct SDK call to the same fake server
    streaming 500 tokens (median difference);
(b) 200 concurrent WebSocket chats of 500 tokens: none lost or reordered, aggregate tokens/s;
(c) SQL queries of ``GET sessions/`` and ``GET sessions/{id}/messages/`` at page sizes 5 and 50.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time

import openai
import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tokens import issue_tokens
from ai.models import Quota
from chat.generation import generations_wait
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory
from tests.chat.ws import open_socket, until_end

TOKENS = 500
EXPECTED = "".join(f"t{i} " for i in range(1, TOKENS + 1))


@pytest.fixture(autouse=True)
def _fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def external_fake(settings):
    """The fake server in its own process, as a real upstream would be."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--tokens", str(TOKENS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        settings.AI_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_CHAT_MODEL = "fake-chat"
        settings.CHAT_WS_MAX_FRAMES_PER_MINUTE = 100000
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bench_settings(settings, fake_openai):
    fake_openai.configure(settings, mode="openai")
    fake_openai.default.tokens = TOKENS
    settings.CHAT_WS_MAX_FRAMES_PER_MINUTE = 100000
    return fake_openai


async def _direct_ttft(fake, client=None) -> float:
    own = client is None
    if own:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
    started = time.perf_counter()
    ttft = None
    stream = await client.chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - started
    if own:
        await client.close()
    return ttft


async def _ws_ttft(ws) -> float:
    started = time.perf_counter()
    await ws.send_json_to({"type": "message", "content": "hi"})
    ttft = None
    while True:
        frame = await ws.receive_json_from(timeout=30)
        if frame["type"] == "token" and ttft is None:
            ttft = time.perf_counter() - started
        if frame["type"] == "end":
            return ttft


@pytest.mark.django_db(transaction=True)
async def test_bench_ttft_websocket_vs_direct(bench_settings, user):
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    shared = openai.AsyncOpenAI(base_url=bench_settings.base_url, api_key="k", max_retries=0)
    direct, reused, over_ws = [], [], []
    for _ in range(3):  # warm-up: imports, connections, SQLite pages
        await _direct_ttft(bench_settings)
        await _direct_ttft(bench_settings, shared)
        await _ws_ttft(ws)
    for _ in range(25):
        direct.append(await _direct_ttft(bench_settings))
        reused.append(await _direct_ttft(bench_settings, shared))
        over_ws.append(await _ws_ttft(ws))
    await ws.disconnect()
    await shared.close()
    await generations_wait(timeout=30)
    d, r, w = (statistics.median(x) * 1000 for x in (direct, reused, over_ws))
    print(
        f"\n[bench a] TTFT median over 25 runs of 500-token streams: WebSocket {w:.2f} ms; "
        f"direct SDK call with a new client {d:.2f} ms (difference {w - d:+.2f} ms), with a "
        f"reused client {r:.2f} ms (difference {w - r:+.2f} ms); target: difference <= 5 ms"
    )


@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
async def test_bench_200_concurrent_chats(external_fake, user):
    chats = int(os.environ.get("BENCH_CHATS", "200"))
    # The benchmark measures streaming, not quotas: lift this user's budget and concurrency.
    await database_sync_to_async(Quota.objects.create)(
        user=user, max_concurrent=chats * 2, daily_tokens=10**10, monthly_tokens=10**11
    )
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    sockets = [await open_socket(token) for _ in range(chats)]

    async def chat(ws):
        await ws.send_json_to({"type": "message", "content": "go"})
        return await until_end(ws, timeout=120)

    started = time.perf_counter()
    results = await asyncio.gather(*(chat(ws) for ws in sockets))
    elapsed = time.perf_counter() - started
    await generations_wait(timeout=60)
    for ws in sockets:
        await ws.disconnect()
    complete = 0
    for frames in results:
        tokens = [f for f in frames if f["type"] == "token"]
        assert [f["seq"] for f in tokens] == list(range(1, TOKENS + 1)), "lost or reordered"
        assert "".join(f["content"] for f in tokens) == EXPECTED
        complete += frames[-1]["status"] == "complete"
    assert complete == chats
    total = chats * TOKENS
    print(
        f"\n[bench b] {chats} concurrent chats x {TOKENS} tokens: all complete, none lost or "
        f"reordered; {elapsed:.2f} s wall, {total / elapsed:,.0f} tokens/s aggregate"
    )


@pytest.mark.django_db
def test_bench_list_query_counts(user_client, user):
    counts = {}
    for size in (5, 50):
        for _ in range(size):
            ChatSessionFactory(user=user)
        session = ChatSessionFactory(user=user)
        for _ in range(size):
            ChatMessageFactory(session=session)
        with CaptureQueriesContext(connection) as sessions_q:
            user_client.get(f"/api/v1/chat/sessions/?page_size={size}")
        with CaptureQueriesContext(connection) as messages_q:
            user_client.get(f"/api/v1/chat/sessions/{session.pk}/messages/?page_size={size}")
        counts[size] = (len(sessions_q), len(messages_q))
    assert counts[5] == counts[50]
    print(
        f"\n[bench c] queries: GET sessions/ {counts[5][0]} (page 5) / {counts[50][0]} (page 50); "
        f"GET sessions/{{id}}/messages/ {counts[5][1]} / {counts[50][1]}"
    )
