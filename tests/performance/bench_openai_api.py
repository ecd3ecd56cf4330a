"""OpenAI-compatible API benchmarks (``make bench``; not part of the default test run).

The server, the fake upstream (500-token streams) and this client each run in their own process.
The server is uvicorn as ``make run`` starts it (``config.serve``) and Daphne, one after the
other in the same run (``BENCH_OPENAI_SERVERS=uvicorn`` or ``daphne`` for one), each measured
against direct calls made in the same round, so a noisy machine moves both sides.

(a) time to first chunk through ``/v1/chat/completions`` with the official SDK vs the same SDK
    calling the fake provider directly (medians, and their difference);
(b) chunks/s with 200 concurrent streams through ``/v1/`` vs 200 direct streams to the fake.

Profiling: with ``BENCH_PYSPY=/path/to/py-spy`` the server is sampled during (a) and during (b)
separately and the top frames are printed after each.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import openai
import pytest

from tests.performance import report
from tests.performance.bench_chat import TOKENS, _start_fake, _stop
from tests.performance.bench_serving import BIN, ROOT, _free_port, _server_env, _wait_ready
from tests.performance.bench_streams import _profile_report, _profile_start

_PAUSE = 0.05
T = TypeVar("T")
_BENCH_KEY = """
from core.actor import Actor
from accounts.apikeys import api_key_create
from accounts.models import User
from metering.models import Quota
user = User.objects.create_user("bench@example.com", "bench-password-1234", is_verified=True)
Quota.objects.create(user=user, max_concurrent=1000, daily_tokens=10**12, monthly_tokens=10**13)
key = api_key_create(
    actor=Actor(user=user), name="bench", scopes=["openai"], password="bench-password-1234"
)
print(key[1])
"""


async def _ttft(client: openai.AsyncOpenAI) -> float:
    started = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    return first


async def _chunks(client: openai.AsyncOpenAI) -> int:
    count = 0
    stream = await client.chat.completions.create(
        model="fake-chat", messages=[{"role": "user", "content": "go"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    return count


async def _ttft_series(via_url: str, key: str, upstream: str, runs: int) -> list[list[float]]:
    """Time to first chunk, direct and via the product, alternated call by call."""
    via = openai.AsyncOpenAI(base_url=via_url, api_key=key, max_retries=0, timeout=300)
    direct = openai.AsyncOpenAI(base_url=upstream, api_key="k", max_retries=0, timeout=300)
    series: list[list[float]] = [[], []]
    for round_ in range(5 + runs):  # warm-up rounds: imports, connections
        for serie, client in zip(series, (direct, via), strict=True):
            await asyncio.sleep(_PAUSE)
            value = await _ttft(client)
            if round_ >= 5:
                serie.append(value)
    await via.close()
    await direct.close()
    return series


async def _rates(via_url: str, key: str, upstream: str, streams: int) -> list[float]:
    """Aggregate chunks/s of ``streams`` concurrent streams, direct then via the product."""
    rates = []
    for url, api_key in ((upstream, "k"), (via_url, key)):
        client = openai.AsyncOpenAI(base_url=url, api_key=api_key, max_retries=0, timeout=300)
        started = time.perf_counter()
        counts = await asyncio.gather(*(_chunks(client) for _ in range(streams)))
        elapsed = time.perf_counter() - started
        assert counts == [TOKENS] * streams, "a stream lost chunks"
        rates.append(sum(counts) / elapsed)
        await client.close()
    return rates


def _start_server(kind: str, env: dict[str, str], log) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    if kind == "uvicorn":  # exactly what `make run` starts
        args = [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        args = [str(BIN / "daphne"), "-p", str(port), "-v", "0", "config.asgi:application"]
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_ready(port, server)
    return server, port


def _profiled(server: subprocess.Popen, label: str, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` with py-spy sampling ``server`` when ``BENCH_PYSPY`` is set."""
    profiles = _profile_start([server])
    try:
        return asyncio.run(work)
    finally:
        if profiles:
            print(f"\n[py-spy] {label}")
            _profile_report(profiles)


@pytest.mark.timeout(1800)
def test_bench_openai_api(tmp_path):
    # Normal priority: at idle priority a fake serving 200 streams starves on a busy machine.
    fake, upstream = _start_fake()
    servers = os.environ.get("BENCH_OPENAI_SERVERS", "uvicorn,daphne").split(",")
    runs = int(os.environ.get("BENCH_TTFT_RUNS", "50"))
    streams = int(os.environ.get("BENCH_STREAMS", "200"))
    lines = []
    log = (tmp_path / "server.log").open("w")
    try:
        env = _server_env(tmp_path)
        env.update(
            AI_PROVIDER="openai",
            OPENAI_BASE_URL=upstream,
            OPENAI_API_KEY="test-key",
            OPENAI_CHAT_MODEL="fake-chat",
            THROTTLE_CHAT_MESSAGE="1000000/min",
            # A shared machine may starve the fake for a while: measure, do not abort.
            AI_STREAM_IDLE_TIMEOUT="600",
        )
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        key = (
            subprocess.run(
                [*manage, "shell", "-c", _BENCH_KEY],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for kind in servers:
            server, port = _start_server(kind, env, log)
            via_url = f"http://127.0.0.1:{port}/v1"
            try:
                direct, via = _profiled(
                    server,
                    f"{kind}: time to first chunk",
                    _ttft_series(via_url, key, upstream, runs),
                )
                direct_rate, via_rate = _profiled(
                    server,
                    f"{kind}: {streams} concurrent streams",
                    _rates(via_url, key, upstream, streams),
                )
            finally:
                _stop(server)
            d, v = (statistics.median(x) * 1000 for x in (direct, via))
            lines.append(
                f"[bench openai a, {kind}] time to first chunk, median of {runs} {TOKENS}-token "
                f"streams: via /v1/chat/completions {v:.2f} ms, direct to the fake provider "
                f"{d:.2f} ms (difference {v - d:+.2f} ms, ratio {v / d:.2f}); goal: difference "
                f"<= 3 ms"
            )
            lines.append(
                f"[bench openai b, {kind}] {streams} concurrent streams x {TOKENS} chunks: via "
                f"/v1/ {via_rate:,.0f} chunks/s, direct {direct_rate:,.0f} chunks/s "
                f"(ratio {via_rate / direct_rate:.2f})"
            )
            report.record(
                "openai",
                f"TTFT via /v1/chat/completions, {kind}",
                v,
                "ms",
                ratio=v / d,
                note=f"direct SDK {d:.2f} ms, difference {v - d:+.2f} ms (goal <= +3)",
            )
            report.record(
                "openai",
                f"{streams} concurrent streams via /v1/, {kind}",
                via_rate,
                "chunks/s",
                ratio=via_rate / direct_rate,
                note=f"direct {direct_rate:,.0f} chunks/s",
            )
    except Exception:
        log.flush()
        print((tmp_path / "server.log").read_text()[-3000:])
        raise
    finally:
        log.close()
        _stop(fake)
    print("\n" + "\n".join(lines))
