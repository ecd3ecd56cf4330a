"""Timing of the mail-sending requests for a known and an unknown address (account enumeration).

Run on demand: ``pytest -s tests/performance/bench_account_timing.py`` (also part of
``make bench``). Daphne serves the product in its own process, as ``make run`` does (embedded
mode: SQLite, eager tasks, the console mail backend), on a fresh ``DATA_DIR``. The two kinds of
request alternate, one at a time over one keep-alive connection, and the medians of the time to
the full answer are printed. Before the fix the known address was the slower one (the mail was
rendered and sent before the answer: 14.0 ms against 11.5 ms); now both answers leave before
anything that depends on the address runs. The figures are printed, never asserted: the shared
machine is noisy.
"""

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 300
WARM_UP = 30
KNOWN = "known-bench@example.com"
UNKNOWN = "nobody-bench@example.com"
PASSWORD = "a long bench passphrase 42"
APP = ["config.asgi:application"]
ENDPOINTS = ("/api/v1/auth/password/forgot", "/api/v1/auth/code/request")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="False",
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",  # DRF's user throttle counts anonymous clients by IP
        THROTTLE_REGISTER="100000/hour",
        THROTTLE_ACCOUNT_EMAIL="100000000/hour",
        THROTTLE_ACCOUNT_EMAIL_IP="100000000/hour",
    )
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _timed_post(client: httpx.Client, path: str, email: str) -> float:
    started = time.perf_counter()
    response = client.post(path, json={"email": email})
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.text
    return elapsed * 1000


@pytest.mark.timeout(900)
def test_known_and_unknown_addresses_answer_alike(tmp_path):
    env = _env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", *APP],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the console mail backend writes every mail here
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, proc)
        with httpx.Client(base_url=url, timeout=30) as client:
            registered = client.post(
                "/api/v1/auth/register",
                json={"email": KNOWN, "username": "knownbench", "password": PASSWORD},
            )
            assert registered.status_code == 201, registered.text
            print(f"\nAnswer time of the mail-sending requests, {ROUNDS} rounds each (medians):")
            for path in ENDPOINTS:
                for n in range(WARM_UP):
                    _timed_post(client, path, KNOWN if n % 2 else UNKNOWN)
                known, unknown = [], []
                for _ in range(ROUNDS):
                    known.append(_timed_post(client, path, KNOWN))
                    unknown.append(_timed_post(client, path, UNKNOWN))
                k, u = statistics.median(known), statistics.median(unknown)
                print(
                    f"  {path:32s} known {k:6.2f} ms   unknown {u:6.2f} ms   "
                    f"difference {k - u:+6.2f} ms"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
