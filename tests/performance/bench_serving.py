"""Serving benchmark: the same DRF view on gunicorn (WSGI) against Daphne and uvicorn (ASGI).

Run with ``make bench`` (or ``pytest -s tests/performance/bench_serving.py``). Each server gets one
worker process on this machine; a bounded number of requests is sent from this process over
loopback at a fixed concurrency, and the throughput is reported as a ratio against gunicorn,
measured in the same run (the machine is shared and noisy, so absolute numbers mean little).
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REQUESTS = 3000
CONCURRENCY = 32
PATH = "/api/v1/"  # a DRF APIView, rendered as JSON: the REST hot path without the database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="False",
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
    )
    return env


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


async def _load(port: int) -> float:
    url = f"http://127.0.0.1:{port}{PATH}"
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(50):  # warm-up
            (await client.get(url)).raise_for_status()
        queue = iter(range(REQUESTS))

        async def worker() -> None:
            for _ in queue:
                (await client.get(url)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return REQUESTS / (time.perf_counter() - started)


SERVERS = {
    "gunicorn (WSGI, sync worker x4 threads)": lambda port: [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ],
    "uvicorn (ASGI)": lambda port: [
        str(BIN / "uvicorn"),
        "config.asgi:application",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ],
    "daphne (ASGI)": lambda port: [
        str(BIN / "daphne"),
        "-p",
        str(port),
        "-v",
        "0",
        "config.asgi:application",
    ],
}


@pytest.mark.timeout(600)
def test_rest_throughput_wsgi_vs_asgi(tmp_path):
    env = _server_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    results: dict[str, float] = {}
    for name, command in SERVERS.items():
        port = _free_port()
        server_env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
        proc = subprocess.Popen(
            command(port),
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, proc)
            results[name] = asyncio.run(_load(port))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    baseline = next(iter(results.values()))
    print(f"\nREST throughput, {REQUESTS} x GET {PATH} at concurrency {CONCURRENCY}, one process:")
    for name, rps in results.items():
        print(f"  {name:44s} {rps:8.0f} req/s   ratio vs gunicorn {rps / baseline:5.2f}")
    assert all(rps > 0 for rps in results.values())
