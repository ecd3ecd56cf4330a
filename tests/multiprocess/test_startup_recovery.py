"""A worker's start closes what a killed worker left, with nobody looking at it.

The servers are ``python -m config.serve`` (uvicorn, as ``make run`` and the compose ``ws``
service run it): the ASGI lifespan startup sweeps for lost answers, and again once their
heartbeat grace has passed. No socket resumes the answer and no ``chat_recover`` runs here.
"""

import asyncio
import contextlib

from tests.multiprocess.conftest import openai_env
from tests.multiprocess.procs import create_user, start_uvicorn
from tests.multiprocess.test_chat_streams import connect, eventually, start_message, token_frames


async def test_a_worker_start_closes_answers_its_killed_predecessor_left(
    mp_env, mp_upstream, mp_db
):
    env = openai_env(mp_env, mp_upstream)
    user = create_user(mp_env)  # its own counters: the quota assertions below are exact
    doomed = start_uvicorn(env, name="doomed")
    try:
        ws = await connect(doomed, user["token"])
        message_id = await start_message(ws, 2000, 0.02)
        await token_frames(ws, 3)
        doomed.kill9()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), timeout=5)
    finally:
        doomed.stop()
    assert mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", message_id) == (
        "streaming",
    )

    successor = start_uvicorn(env, name="successor")
    try:
        # CHAT_HEARTBEAT_TTL is 3 s here: the answer is closed within seconds of the start.
        eventually(
            lambda: (
                mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", message_id)
                == ("incomplete",)
            ),
            within=20,
            what="the new worker's start closing the answer",
        )
        assert "startup_sweep_recovered" in successor.output(tail=10**6)
    finally:
        successor.stop()
    assert (
        mp_db.all(
            "SELECT id FROM metering_quotareservation WHERE user_id = %s AND status = 'active'",
            user["id"],
        )
        == []
    )
    counters = mp_db.all(
        "SELECT reserved_tokens, used_tokens FROM metering_quotacounter WHERE user_id = %s",
        user["id"],
    )
    assert counters and all(reserved == 0 and used > 0 for reserved, used in counters)
