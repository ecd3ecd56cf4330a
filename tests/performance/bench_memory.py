"""Memory of the embedded server, on demand (`make bench`, or `pytest -s` on this file).

One embedded server as ``make run`` starts it (``python -m config.serve`` with
``config.settings.local``: SQLite, in-memory layers, the embedded vector engine, the ingestion
thread and the maintenance timer), a fake OpenAI upstream for chat and embeddings in its own
process. Three identical rounds, each:

1. ``BENCH_MEMORY_STREAMS`` (1,000) concurrent WebSocket chats of 200 tokens (every one
   complete, ordered and lossless, as in ``bench_streams``), sockets closed; then the server's
   resident set (``VmRSS``) and its peak so far (``VmHWM``);
2. ``BENCH_MEMORY_DOCUMENTS`` (100) PDFs uploaded through the API and ingested in the
   background until ``ready``, then deleted (each round starts from the same data); RSS and peak
   again.

A leak shows as RSS growing round after round: printed is the growth from round 1 to round 3
after each phase (Python's allocator keeps freed arenas for reuse, so the first round's peak is
the plateau and later rounds should stay on it).
"""

import asyncio
import os
import tempfile
import time

import httpx
import pytest

from tests.ai.factories import VOCABULARY, make_pdf
from tests.multiprocess.procs import Proc, create_users, manage, start_fake_openai, start_uvicorn
from tests.performance.bench_streams import PER_USER, TOKENS, _base_env, _run

STREAMS = int(os.environ.get("BENCH_MEMORY_STREAMS", "1000"))
DOCUMENTS = int(os.environ.get("BENCH_MEMORY_DOCUMENTS", "100"))
ROUNDS = int(os.environ.get("BENCH_MEMORY_ROUNDS", "3"))


def _memory_mb(proc: Proc) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of ``proc`` in MB."""
    values = {}
    with open(f"/proc/{proc.pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def _pdf(n: int) -> bytes:
    words = [VOCABULARY[(n * 7 + i) % len(VOCABULARY)] for i in range(300)]
    pages = [f"Document {n} page {p}. " + " ".join(words[p * 50 :]) for p in range(1, 4)]
    return make_pdf(pages)


async def _ingest(url: str, token: str, count: int) -> float:
    """Upload ``count`` PDFs, wait until every one is ``ready``, delete them; seconds taken."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        ids = []
        for n in range(count):
            files = {"file": (f"doc-{n}.pdf", _pdf(n), "application/pdf")}
            response = await client.post("/api/v1/documents", files=files)
            assert response.status_code in (201, 202), response.text
            ids.append(response.json()["id"])
        pending = set(ids)
        deadline = time.monotonic() + 600
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} documents never became ready"
            for document_id in list(pending):
                status = (await client.get(f"/api/v1/documents/{document_id}")).json()["status"]
                assert status not in ("failed", "error"), status
                if status == "ready":
                    pending.discard(document_id)
            if pending:
                await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        for document_id in ids:
            response = await client.delete(f"/api/v1/documents/{document_id}")
            assert response.status_code in (200, 204), response.text
    return elapsed


@pytest.mark.timeout(3600)
def test_bench_memory_embedded_streams_and_documents():
    data_dir = tempfile.mkdtemp(prefix="bench-memory-")
    env = _base_env(data_dir)
    for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "QDRANT_URL"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",  # what `make run` serves
        THROTTLE_DOCUMENT_UPLOAD="100000/hour",
    )
    fake, base_url = start_fake_openai(tokens=TOKENS, delay=0.005)
    env["OPENAI_BASE_URL"] = base_url
    server = None
    rows: list[tuple[int, float, float, float, float, float]] = []
    try:
        manage(env, "migrate", "--noinput", timeout=600)
        users = create_users(env, -(-STREAMS // PER_USER), concurrent=PER_USER * 2)
        tokens = [u["token"] for u in users]
        server = start_uvicorn(env, name="memory", own_data_dir=False)
        started_rss, _ = _memory_mb(server)
        for round_number in range(1, ROUNDS + 1):
            result = asyncio.run(_run([server], tokens, STREAMS))
            assert result["complete"] == STREAMS
            after_streams, _ = _memory_mb(server)
            asyncio.run(_ingest(server.url, tokens[0], DOCUMENTS))
            after_documents, peak = _memory_mb(server)
            rows.append(
                (
                    round_number,
                    after_streams,
                    after_documents,
                    peak,
                    result["ttft_p50"],
                    result["tokens_per_s"],
                )
            )
    except BaseException:
        if server is not None:
            print(server.output(tail=6000))
        raise
    finally:
        if server is not None:
            server.stop()
        fake.stop()
    print(
        f"\n[bench memory embedded] uvicorn, config.settings.local; RSS at start "
        f"{started_rss:.0f} MB; each round: {STREAMS} streams x {TOKENS} tokens, then "
        f"{DOCUMENTS} PDFs ingested and deleted"
    )
    for number, streams_rss, documents_rss, peak, ttft, rate in rows:
        print(
            f"  round {number}: RSS after streams {streams_rss:.0f} MB, after documents "
            f"{documents_rss:.0f} MB, peak {peak:.0f} MB (TTFT p50 {ttft:.0f} ms, "
            f"{rate:,.0f} tokens/s)"
        )
    first, last = rows[0], rows[-1]
    print(
        f"  growth round 1 -> {last[0]}: after streams {last[1] - first[1]:+.0f} MB, "
        f"after documents {last[2] - first[2]:+.0f} MB, peak {last[3] - first[3]:+.0f} MB"
    )
