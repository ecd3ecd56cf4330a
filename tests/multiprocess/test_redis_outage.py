"""Redis outage against a real Daphne process: what a browser's socket and a REST client see.

The app runs with ``REDIS_URL`` pointing at a private redis-server; the test kills it, checks
the answers, starts it again on the same port and checks that the same server process (no
restart) serves everything again.
"""

import asyncio
import contextlib
import json
import shutil
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.multiprocess.processes import RedisServer, Server, embedded_env, migrate

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]

PASSWORD = "lantern-harbor-92"
LOGIN = {"email": "owner@example.com", "password": PASSWORD}


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a client coroutine on a fresh loop in its own thread (the test thread may already
    run one: Playwright's sync API keeps a loop running for the e2e session)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _socket_frames(url: str, token: str, *, message: str | None = None) -> tuple:
    """Authenticate (and send ``message``); the frames received and the close code."""
    ws_url = url.replace("http://", "ws://") + "/ws/chat/"
    frames: list[dict] = []
    async with websockets.connect(ws_url, origin=url, open_timeout=10) as socket:
        # While Redis is down the server may close before the auth frame is even sent: its
        # error frame is then still in the receive queue, read below.
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send(json.dumps({"type": "auth", "token": token}))
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=15))
                frames.append(frame)
                if frame["type"] == "ready" and message is not None:
                    await socket.send(json.dumps({"type": "message", "content": message}))
                if frame["type"] == "end" or (frame["type"] == "ready" and message is None):
                    return frames, None
        except websockets.ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None


async def _live_socket_outage(url: str, token: str, redis_server: RedisServer) -> tuple:
    """A socket that is ready when Redis dies: what it gets."""
    ws_url = url.replace("http://", "ws://") + "/ws/chat/"
    async with websockets.connect(ws_url, origin=url, open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await asyncio.wait_for(socket.recv(), timeout=15))["type"] == "ready"
        redis_server.stop()
        frames = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=30)))
        except websockets.ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None


def test_daphne_answers_a_redis_outage_cleanly_and_recovers_without_restart(tmp_path: Path):
    redis_server = RedisServer(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**embedded_env(data_dir), "REDIS_URL": redis_server.url}
    server = None
    try:
        redis_server.start()
        migrate(env)
        server = Server(env, tmp_path / "daphne.log")
        registered = httpx.post(
            server.url + "/api/v1/auth/register",
            json={**LOGIN, "username": "owner", "full_name": "Owner"},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        token = httpx.post(server.url + "/api/v1/auth/login", json=LOGIN, timeout=30).json()[
            "access"
        ]
        bearer = {"Authorization": f"Bearer {token}"}

        frames, code = _run(_live_socket_outage(server.url, token, redis_server))
        assert [f["code"] for f in frames] == ["SERVICE_UNAVAILABLE"], frames
        assert code == 4503
        frames, code = _run(_socket_frames(server.url, token))
        assert [f["type"] for f in frames] == ["error"] and code == 4503, (frames, code)

        listed = httpx.get(server.url + "/api/v1/chat/sessions", headers=bearer, timeout=30)
        assert listed.status_code == 200, listed.text
        login = httpx.post(server.url + "/api/v1/auth/login", json=LOGIN, timeout=30)
        assert login.status_code == 503, login.text
        assert login.json()["code"] == "SERVICE_UNAVAILABLE"
        assert login.headers["Retry-After"] == "5"

        redis_server.start()

        assert httpx.post(server.url + "/api/v1/auth/login", json=LOGIN, timeout=30).is_success
        frames, code = _run(_socket_frames(server.url, token, message="Hello again"))
        assert code is None, frames
        assert frames[0]["type"] == "ready" and frames[-1]["type"] == "end", frames
        assert frames[-1]["status"] == "complete"
    finally:
        if server is not None:
            server.stop()
        redis_server.stop()
