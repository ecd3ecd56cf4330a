"""The full scaled layout of issue 15: two ASGI workers and a Celery worker on PostgreSQL +
Redis. A stream runs on one worker, is resumed on the other, and the worker that ran it is
killed; a Celery worker that (re)starts afterwards closes the lost answer by itself (its
``worker_ready`` hook queues ``chat.recover_orphans`` on the real broker, and it runs it),
releasing the reservation and charging the tokens produced - nobody runs a command."""

import time
import uuid

from tests.multiprocess.conftest import openai_env
from tests.multiprocess.procs import create_user, start_celery_worker
from tests.multiprocess.test_chat_streams import (
    assert_settled,
    connect,
    eventually,
    expected,
    resume,
    seqs,
    start_message,
    text,
    token_frames,
    until_end,
)


async def test_two_asgi_workers_and_a_celery_worker(asgi_workers, mp_env, mp_upstream, mp_db):
    a, b = asgi_workers(count=2)
    user = create_user(mp_env)
    # The Celery worker gets a real broker (local settings) on a queue of this test alone.
    celery_env = {
        **openai_env(mp_env, mp_upstream),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "LOG_LEVEL": "INFO",  # the worker's " ready." line and its task lines
        "CELERY_TASK_DEFAULT_QUEUE": f"test-chat-{uuid.uuid4().hex[:10]}",
    }

    # A stream started on A, followed from B to its end, while a Celery worker runs.
    worker = start_celery_worker(celery_env, name="celery-first")
    try:
        ws_a = await connect(a, user["token"])
        finished_id = await start_message(ws_a, 60, 0.01)
        seen = await token_frames(ws_a, 2)
        await ws_a.close()
        ws_b = await connect(b, user["token"])
        await resume(ws_b, finished_id, seen[-1]["seq"])
        rest = await until_end(ws_b)
        await ws_b.close()
        assert rest[-1]["status"] == "complete"
        assert text(seen + rest) == expected(60)
        assert seqs(seen + rest) == list(range(1, len(seqs(seen + rest)) + 1))
    finally:
        worker.stop()

    # A long answer on A; A dies with it while no Celery worker runs.
    ws_a = await connect(a, user["token"])
    lost_id = await start_message(ws_a, 2000, 0.02)
    await token_frames(ws_a, 5)
    a.kill9()
    await ws_a.close()
    # Past the heartbeat's TTL (3 s in these tests) the answer is provably orphaned.
    time.sleep(4)
    assert mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", lost_id) == ("streaming",)

    # The Celery worker comes back: its start alone closes the answer within seconds.
    worker = start_celery_worker(celery_env, name="celery-restarted")
    try:
        eventually(
            lambda: (
                mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", lost_id)
                == ("incomplete",)
            ),
            within=20,
            what="the restarted Celery worker closing the lost answer",
        )
        assert "chat.recover_orphans" in worker.output(tail=10**6)
    finally:
        worker.stop()
    assert_settled(mp_db, user["id"], lost_id)
