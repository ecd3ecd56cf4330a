"""Streams across two real Daphne workers on PostgreSQL + Redis: resume, a second tab, cancel,
and a worker killed with SIGKILL mid-answer."""

import asyncio
import json
import time
from typing import Any

import websockets

from tests.multiprocess.procs import Proc, create_user, manage


def expected(tokens: int) -> str:
    return "".join(f"t{i} " for i in range(1, tokens + 1))


async def connect(worker: Proc, token: str) -> Any:
    ws = await websockets.connect(
        f"{worker.ws_url}/ws/chat/",
        subprotocols=["bearer", token],
        origin=worker.url,
        max_size=2**22,
    )
    ready = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert ready["type"] == "ready", ready
    return ws


async def recv(ws: Any, timeout: float = 15) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))


async def start_message(ws: Any, tokens: int, delay: float) -> int:
    """Ask for an answer of ``tokens`` tokens, ``delay`` seconds apart (the fake's script)."""
    await ws.send(json.dumps({"type": "message", "content": f"stream {tokens} {delay}"}))
    start = await recv(ws)
    assert start["type"] == "start", start
    assert (await recv(ws))["type"] == "sources"
    return start["message_id"]


async def token_frames(ws: Any, count: int) -> list[dict[str, Any]]:
    frames = [await recv(ws) for _ in range(count)]
    assert all(f["type"] == "token" for f in frames), frames
    return frames


async def until_end(ws: Any, timeout: float = 30) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await recv(ws, timeout)
        frames.append(frame)
        if frame["type"] == "end":
            return frames


async def resume(ws: Any, message_id: int, after_seq: int) -> None:
    await ws.send(json.dumps({"type": "resume", "message_id": message_id, "after_seq": after_seq}))
    head = await recv(ws)
    assert head["type"] == "start" and head["resumed"] is True, head
    assert (await recv(ws))["type"] == "sources"


def text(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] == "token"]


def eventually(check, *, within: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.2)


def assert_settled(mp_db: Any, user_id: int, *message_ids: int) -> None:
    """After a lost answer is closed: no reservation of the user is still active, and the
    answers' produced tokens are charged (a usage record each)."""
    active = mp_db.all(
        "SELECT id FROM metering_quotareservation WHERE user_id = %s AND status = 'active'",
        user_id,
    )
    assert active == []
    charged = mp_db.all(
        "SELECT message_id FROM metering_usagerecord WHERE message_id = ANY(%s)",
        list(message_ids),
    )
    assert sorted(row[0] for row in charged) == sorted(message_ids)


async def test_stream_on_one_worker_resume_on_the_other(asgi_pair, mp_user, mp_db):
    a, b = asgi_pair
    user = mp_user
    ws_a = await connect(a, user["token"])
    message_id = await start_message(ws_a, 120, 0.02)
    seen = await token_frames(ws_a, 3)
    await ws_a.close()  # the client loses its connection; the answer goes on on worker A

    ws_b = await connect(b, user["token"])
    await resume(ws_b, message_id, seen[-1]["seq"])
    rest = await until_end(ws_b)
    await ws_b.close()
    assert seqs(seen + rest) == list(range(1, rest[-1]["seq"] + 1))
    assert text(seen + rest) == expected(120)
    assert rest[-1]["status"] == "complete"
    assert mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", message_id) == (
        "complete",
    )


async def test_a_second_tab_on_the_other_worker_sees_the_same_answer(asgi_pair, mp_user):
    a, b = asgi_pair
    user = mp_user
    ws_a = await connect(a, user["token"])
    ws_b = await connect(b, user["token"])
    message_id = await start_message(ws_a, 150, 0.01)
    first = await recv(ws_a)
    await resume(ws_b, message_id, 0)
    live, followed = await asyncio.gather(until_end(ws_a), until_end(ws_b))
    await ws_a.close()
    await ws_b.close()
    assert [first, *live] == followed
    assert text(followed) == expected(150)
    assert seqs(followed) == list(range(1, followed[-1]["seq"] + 1))


async def test_cancel_on_one_worker_stops_the_answer_on_the_other(asgi_pair, mp_user, mp_db):
    a, b = asgi_pair
    user = mp_user
    ws_a = await connect(a, user["token"])
    message_id = await start_message(ws_a, 1000, 0.02)
    await token_frames(ws_a, 2)
    ws_b = await connect(b, user["token"])
    await ws_b.send(json.dumps({"type": "cancel", "message_id": message_id}))
    frames = await until_end(ws_a, timeout=15)
    await ws_a.close()
    await ws_b.close()
    assert frames[-1]["status"] == "cancelled"
    status, response = mp_db.one(
        "SELECT status, response FROM chat_chatmessage WHERE id = %s", message_id
    )
    assert status == "cancelled" and expected(1000).startswith(response)
    assert len(response) < len(expected(1000))


async def test_killed_worker_answers_are_closed_and_their_quota_released(asgi_pair, mp_env, mp_db):
    # The last test of the module: it kills the first worker of the shared pair.
    a, b = asgi_pair
    user = create_user(mp_env)  # its own counters: the quota assertions below are exact
    sockets = [await connect(a, user["token"]) for _ in range(2)]
    resumed_id = await start_message(sockets[0], 2000, 0.02)
    swept_id = await start_message(sockets[1], 2000, 0.02)
    seen = await token_frames(sockets[0], 5)
    await token_frames(sockets[1], 5)
    # Wait for a checkpoint past what the client saw, so the resume has text to replay.
    eventually(
        lambda: mp_db.one(
            "SELECT jsonb_array_length(token_ends) >= %s FROM chat_chatmessage WHERE id = %s",
            seen[-1]["seq"],
            resumed_id,
        )[0],
        within=10,
        what="a checkpoint",
    )
    a.kill9()
    for ws in sockets:
        await ws.close()

    # Resume on the surviving worker: replayed from the checkpoint, then ended, never hung.
    ws_b = await connect(b, user["token"])
    await resume(ws_b, resumed_id, seen[-1]["seq"])
    rest = await until_end(ws_b, timeout=20)
    await ws_b.close()
    assert rest[-1]["status"] == "incomplete"
    assert seqs(seen + rest) == list(range(1, len(seqs(seen + rest)) + 1))
    assert expected(2000).startswith(text(seen + rest))

    # Nobody looks at the other answer: the periodic sweep (chat_recover) closes it.
    def swept() -> bool:
        manage(mp_env, "chat_recover")
        row = mp_db.one("SELECT status FROM chat_chatmessage WHERE id = %s", swept_id)
        return row == ("incomplete",)

    eventually(swept, within=20, what="the sweep closing the answer")

    # Both reservations are settled: nothing held, the tokens produced are charged.
    assert_settled(mp_db, user["id"], resumed_id, swept_id)
    counters = mp_db.all(
        "SELECT reserved_tokens, used_tokens FROM metering_quotacounter WHERE user_id = %s",
        user["id"],
    )
    assert counters and all(reserved == 0 and used > 0 for reserved, used in counters)
