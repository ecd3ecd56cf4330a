"""Streaming benchmark, on demand (`make bench`, or `pytest -s tests/performance/bench_streams.py`).

Real processes, as deployed: uvicorn workers (``python -m config.serve``, what ``make run`` and
the compose ``ws`` service run), fake OpenAI upstreams (``tests/fakes``) each in
their own process, and this process as the WebSocket client of every stream. Each stream asks
for ``BENCH_TOKENS`` (200) tokens ``BENCH_DELAY`` (5 ms) apart; every one must end
``complete`` with its frames in order (seq 1..n, no gap) and its text exactly the tokens sent
(lossless). Printed: time to first token p50/p99 (client side, from sending the message),
aggregate tokens/s (token deltas delivered / wall time), and the token deltas forwarded per
CPU-second of the server processes.

(a) scaled: PostgreSQL + Redis (``DATABASE_URL``, ``REDIS_URL``), two uvicorn workers,
    ``BENCH_SCALED_STREAMS`` (500) concurrent streams spread over them;
(b) embedded: one uvicorn process on SQLite and in-memory layers, ``BENCH_EMBEDDED_STREAMS``
    (1,000) concurrent streams. One process runs on one core at a time: its deltas per
    CPU-second is the "forwarded on one core" figure (CPU time, so other load on the machine
    does not lower it; pinning the server to a core under load only starved its handshakes).

Profiling: with ``BENCH_PYSPY=/path/to/py-spy`` (``pip install py-spy``), every server process is
sampled during the measured window and the top frames (own time and inclusive, per thread) are
printed after the figures.
"""

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from typing import Any

import pytest
import websockets

from tests.multiprocess.procs import (
    Proc,
    create_users,
    manage,
    scratch_database,
    start_daphnes,
    start_fake_openai,
    start_uvicorn,
)

TOKENS = int(os.environ.get("BENCH_TOKENS", "200"))
# Streams per user: 500 concurrent chats come from many people. All from one user, every turn
# queued on that user's quota counter row (a row lock per reservation, by design).
PER_USER = int(os.environ.get("BENCH_STREAMS_PER_USER", "10"))
DELAY = float(os.environ.get("BENCH_DELAY", "0.005"))
EXPECTED = "".join(f"t{i} " for i in range(1, TOKENS + 1))
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(proc: Proc) -> float:
    with open(f"/proc/{proc.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _profile_start(workers: list[Proc]) -> list[tuple[subprocess.Popen, str]]:
    """py-spy on every server process (``BENCH_PYSPY``), or nothing."""
    pyspy = os.environ.get("BENCH_PYSPY", "")
    if not pyspy:
        return []
    started = []
    for worker in workers:
        out = tempfile.mkstemp(prefix=f"pyspy-{worker.pid}-", suffix=".txt")[1]
        args = [pyspy, "record", "--pid", str(worker.pid), "--format", "raw", "--threads"]
        args += ["--rate", "200", "--nonblocking", "-o", out]
        started.append(
            (subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
        )
    return started


def _profile_report(profiles: list[tuple[subprocess.Popen, str]], top: int = 25) -> None:
    """Stop the samplers; print the busiest frames (own samples, then inclusive)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for proc, out in profiles:
        proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
        proc.wait(timeout=60)
        with open(out) as fh:
            for line in fh:
                stack, _, count_text = line.rstrip("\n").rpartition(" ")
                if not stack:
                    continue
                count = int(count_text)
                frames = stack.split(";")
                total += count
                threads[frames[0]] += count
                own[frames[-1]] += count
                for frame in set(frames[1:]):
                    inclusive[frame] += count
        print(f"[py-spy] raw stacks: {out}")
    print(f"\n[py-spy] {total} samples (busy threads only)")
    for label, counter in (("threads", threads), ("own", own), ("inclusive", inclusive)):
        print(f"[py-spy] top {label}:")
        for frame, count in counter.most_common(top if label != "threads" else 8):
            print(f"  {100 * count / max(total, 1):5.1f}%  {frame}")


def _base_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATA_DIR=data_dir,
        LOG_LEVEL="WARNING",
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        CHAT_WS_MAX_FRAMES_PER_MINUTE="100000",
        AI_PROVIDER="openai",
        OPENAI_API_KEY="test-key",
        OPENAI_CHAT_MODEL="fake-chat",
        AI_REQUEST_TIMEOUT="120",
    )
    return env


async def _connect(url: str, origin: str, token: str, gate: asyncio.Semaphore) -> Any:
    async with gate:
        ws = await websockets.connect(
            url,
            subprotocols=["bearer", token],
            origin=origin,
            max_size=2**22,
            open_timeout=120,
            ping_interval=None,  # a loaded server may not pong within 20 s; frames are measured
        )
        assert json.loads(await ws.recv())["type"] == "ready"
        return ws


async def _one_stream(ws: Any, ttfts: list[float]) -> int:
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "content": f"stream {TOKENS} {DELAY}"}))
    seqs: list[int] = []
    parts: list[str] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=300))
        kind = frame["type"]
        if kind == "token":
            if not seqs:
                ttfts.append(time.perf_counter() - started)
            seqs.append(frame["seq"])
            parts.append(frame["content"])
        elif kind == "end":
            assert frame["status"] == "complete", frame
            assert seqs == list(range(1, len(seqs) + 1)), "frames lost or out of order"
            assert frame["seq"] == len(seqs)
            assert "".join(parts) == EXPECTED, "text lost or altered"
            return len(seqs)
        else:
            assert kind in ("start", "sources"), frame


async def _run(workers: list[Proc], tokens: list[str], streams: int) -> dict[str, Any]:
    # Sockets first, a bounded number of handshakes at a time (a connection storm is not
    # what is measured; a server refuses a handshake its application has not accepted in time).
    gate = asyncio.Semaphore(20)
    sockets = await asyncio.gather(
        *(
            _connect(
                f"{workers[i % len(workers)].ws_url}/ws/chat/",
                workers[i % len(workers)].url,
                tokens[i % len(tokens)],
                gate,
            )
            for i in range(streams)
        )
    )
    ttfts: list[float] = []
    cpu_before = [_cpu_seconds(w) for w in workers]
    profiles = _profile_start(workers)
    started = time.perf_counter()
    # Then every stream at once.
    frames = await asyncio.gather(*(_one_stream(ws, ttfts) for ws in sockets))
    wall = time.perf_counter() - started
    cpu = sum(_cpu_seconds(w) - b for w, b in zip(workers, cpu_before, strict=True))
    if profiles:
        _profile_report(profiles)
    await asyncio.gather(*(ws.close() for ws in sockets))
    ttfts.sort()
    return {
        "complete": len(frames),
        "frames": sum(frames),
        "wall": wall,
        "ttft_p50": statistics.median(ttfts) * 1000,
        "ttft_p99": ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))] * 1000,
        "tokens_per_s": streams * TOKENS / wall,
        "deltas_per_cpu_s": streams * TOKENS / cpu if cpu else float("nan"),
        "server_cpu": cpu,
    }


def _print(label: str, streams: int, r: dict[str, Any]) -> None:
    print(
        f"\n[bench streams {label}] {streams} concurrent streams x {TOKENS} tokens "
        f"({DELAY * 1000:g} ms apart), {PER_USER} per user: "
        f"{r['complete']}/{streams} complete, ordered and lossless; "
        f"{r['frames']} frames for {streams * TOKENS} deltas "
        f"({streams * TOKENS / max(r['frames'], 1):.1f} deltas/frame); "
        f"TTFT p50 {r['ttft_p50']:.1f} ms, p99 {r['ttft_p99']:.1f} ms; "
        f"{r['wall']:.2f} s wall, {r['tokens_per_s']:,.0f} tokens/s aggregate; "
        f"server CPU {r['server_cpu']:.2f} s = {r['deltas_per_cpu_s']:,.0f} deltas per CPU-second"
    )


@pytest.mark.timeout(1800)
def test_bench_streams_scaled_two_workers():
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database.startswith(("postgres://", "postgresql://")) or not redis:
        pytest.skip("the scaled benchmark needs DATABASE_URL=postgres://... and REDIS_URL")
    streams = int(os.environ.get("BENCH_SCALED_STREAMS", "500"))
    fakes: list[Proc] = []
    workers: list[Proc] = []
    with scratch_database(database) as url:
        try:
            env = _base_env(tempfile.mkdtemp(prefix="bench-streams-"))
            env.update(DATABASE_URL=url, REDIS_URL=redis, CACHE_KEY_PREFIX="benchstreams")
            manage(env, "migrate", "--noinput", timeout=600)
            users = create_users(env, -(-streams // PER_USER), concurrent=PER_USER * 2)
            # One upstream per worker: a real provider is not on this machine.
            for _ in range(2):
                proc, base_url = start_fake_openai(tokens=TOKENS, delay=DELAY)
                fakes.append(proc)
                workers += start_daphnes({**env, "OPENAI_BASE_URL": base_url}, 1, server="uvicorn")
            result = asyncio.run(_run(workers, [u["token"] for u in users], streams))
        finally:
            for proc in workers + fakes:
                proc.stop()
    assert result["complete"] == streams
    _print("scaled: PostgreSQL + Redis, 2 uvicorn workers", streams, result)


@pytest.mark.timeout(1800)
def test_bench_streams_embedded_one_core():
    streams = int(os.environ.get("BENCH_EMBEDDED_STREAMS", "1000"))
    env = _base_env(tempfile.mkdtemp(prefix="bench-streams-embedded-"))
    for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(key, None)
    fake, base_url = start_fake_openai(tokens=TOKENS, delay=DELAY)
    server = None
    try:
        env["OPENAI_BASE_URL"] = base_url
        manage(env, "migrate", "--noinput", timeout=600)
        users = create_users(env, -(-streams // PER_USER), concurrent=PER_USER * 2)
        server = start_uvicorn(env, name="embedded", own_data_dir=False)
        try:
            result = asyncio.run(_run([server], [u["token"] for u in users], streams))
        except BaseException:
            print(server.output(tail=6000))
            raise
    finally:
        if server is not None:
            server.stop()
        fake.stop()
    assert result["complete"] == streams
    _print("embedded: SQLite, 1 uvicorn process", streams, result)
