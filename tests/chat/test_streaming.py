"""Lossless streaming: coalesced frames, per-message logs, heartbeats and lost generations."""

import asyncio
import copy
import json
import os
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from accounts.tokens import issue_tokens
from ai.providers.tokens import count_tokens
from chat.generation.running import generations_wait
from chat.models import ChatMessage, ChatSession, MessageStatus
from chat.recovery import (
    cancel_key,
    chat_messages_recover_orphans,
    heartbeat_key,
    heartbeats_alive,
    heartbeats_refresh,
)
from chat.streams import END, ERROR, TOKEN, FrameLogUnavailable, frame_log, parse_entry_id
from core.actor import Actor
from metering.models import QuotaCounter, QuotaReservation, ReservationStatus, UsageRecord
from metering.quotas import quota_reserve
from tests.chat.ws import assert_in_order, open_socket, text_of, until_end

pytestmark = pytest.mark.django_db(transaction=True)
needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the shared frame log needs REDIS_URL (scaled mode)"
)


async def _start(ws, content: str = "go") -> dict:
    await ws.send_json_to({"type": "message", "content": content})
    start = await ws.receive_json_from(timeout=10)
    assert start["type"] == "start", start
    assert (await ws.receive_json_from(timeout=5))["type"] == "sources"
    return start


def _active_message(user, *, response: str = "", ends=(), age: float = 0, **meta) -> ChatMessage:
    """An answer some worker was generating (``age`` seconds since its last checkpoint)."""
    session = ChatSession.objects.create(user=user, title="t")
    message = ChatMessage.objects.create(
        session=session,
        user=user,
        message="hi",
        response=response,
        token_ends=list(ends),
        status=MessageStatus.STREAMING,
        metadata={"provider": "openai", "model": "fake-chat", **meta},
    )
    ChatMessage.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(seconds=age)
    )
    return message


# --- coalescing ----------------------------------------------------------------------------


async def test_deltas_are_coalesced_and_the_first_goes_out_alone(
    openai_settings, settings, access_token
):
    # A window that never closes by itself: frames are cut by size only (deterministic).
    settings.CHAT_STREAM_COALESCE_MS = 60_000
    settings.CHAT_STREAM_COALESCE_CHARS = 10
    openai_settings.script(tokens=30)
    ws = await open_socket(access_token)
    start = await _start(ws)
    frames = await until_end(ws)
    await ws.disconnect()
    tokens = [f for f in frames if f["type"] == "token"]
    assert_in_order(frames)
    assert tokens[0]["content"] == "t1 "
    assert all(len(f["content"]) >= 10 for f in tokens[1:-1])
    assert len(tokens) < 30
    assert text_of(frames) == "".join(f"t{i} " for i in range(1, 31))
    message = await database_sync_to_async(ChatMessage.objects.get)(pk=start["message_id"])
    assert message.seq == len(tokens) == frames[-1]["seq"]
    assert [c for _, c in message.frames_after(0)] == [f["content"] for f in tokens]


async def test_a_pause_in_the_stream_does_not_hold_what_arrived(
    openai_settings, settings, access_token
):
    # A window long enough to take t2 and t3, far shorter than the stall.
    settings.CHAT_STREAM_COALESCE_MS = 500
    settings.CHAT_STREAM_COALESCE_CHARS = 10_000
    # The model sends three tokens, then nothing for a long time (socket open).
    openai_settings.script(tokens=10, stall_after=3)
    ws = await open_socket(access_token)
    start = await _start(ws)
    first = await ws.receive_json_from(timeout=5)
    second = await ws.receive_json_from(timeout=5)  # long before the stream's idle timeout
    assert (first["content"], second["content"]) == ("t1 ", "t2 t3 ")
    await ws.send_json_to({"type": "cancel", "message_id": start["message_id"]})
    assert (await until_end(ws))[-1]["status"] == "cancelled"
    await ws.disconnect()


async def test_a_second_tab_gets_the_same_frames(openai_settings, access_token):
    openai_settings.script(tokens=60, delay=0.005)
    first = await open_socket(access_token)
    start = await _start(first)
    head = await first.receive_json_from(timeout=5)
    second = await open_socket(access_token)
    await second.send_json_to({"type": "resume", "message_id": start["message_id"]})
    assert (await second.receive_json_from(timeout=5))["resumed"] is True
    assert (await second.receive_json_from(timeout=5))["type"] == "sources"
    one, two = await asyncio.gather(until_end(first), until_end(second))
    await first.disconnect()
    await second.disconnect()
    assert [head, *one] == two
    assert_in_order(two)


# --- heartbeats and lost generations -------------------------------------------------------


async def test_a_running_generation_keeps_a_heartbeat(openai_settings, settings, access_token):
    settings.CHAT_HEARTBEAT_INTERVAL = 0.05
    openai_settings.script(tokens=10, stall_after=2)
    ws = await open_socket(access_token)
    start = await _start(ws)
    await ws.receive_json_from(timeout=5)
    message_id = start["message_id"]
    for _ in range(100):
        if await database_sync_to_async(heartbeats_alive)([message_id]):
            break
        await asyncio.sleep(0.05)
    assert await database_sync_to_async(heartbeats_alive)([message_id]) == {message_id}
    # Quiet for longer than the grace, yet alive: the sweep leaves it alone.
    await database_sync_to_async(ChatMessage.objects.filter(pk=message_id).update)(
        updated_at=timezone.now() - timedelta(seconds=60)
    )
    assert await database_sync_to_async(chat_messages_recover_orphans)() == []
    await ws.send_json_to({"type": "cancel", "message_id": message_id})
    assert (await until_end(ws))[-1]["status"] == "cancelled"
    await ws.disconnect()


async def test_cancel_from_another_worker_stops_a_stalled_stream(
    openai_settings, settings, access_token
):
    """No token flows, so no checkpoint: the heartbeat is what reads the cancel flag."""
    settings.CHAT_HEARTBEAT_INTERVAL = 0.05
    openai_settings.script(tokens=10, stall_after=2)
    ws = await open_socket(access_token)
    start = await _start(ws)
    await ws.receive_json_from(timeout=5)
    await database_sync_to_async(cache.set)(cancel_key(start["message_id"]), 1)
    frames = await until_end(ws, timeout=10)
    await ws.disconnect()
    assert frames[-1]["status"] == "cancelled"


def test_lost_generation_is_closed_charged_and_released(user, settings):
    settings.CHAT_ORPHAN_SECONDS = 7200
    reservation_id = quota_reserve(actor=Actor(user=user), estimate=2000)
    lost = _active_message(
        user,
        response="Half an answer",
        ends=[4, 14],
        age=60,
        prompt_tokens=25,
        reservation_id=reservation_id,
    )
    alive = _active_message(user, age=60)
    heartbeats_refresh([alive.pk])
    fresh = _active_message(user, age=0)  # stored a moment ago: its first beat may be coming

    assert chat_messages_recover_orphans() == [lost.pk]

    lost.refresh_from_db()
    assert lost.status == MessageStatus.INCOMPLETE
    assert lost.response == "Half an answer" and lost.seq == 2
    assert lost.metadata["error"]["code"] == "GENERATION_LOST"
    charged = 25 + count_tokens("Half an answer")
    assert lost.metadata["total_tokens"] == charged
    reservation = QuotaReservation.objects.get(pk=reservation_id)
    assert reservation.status == ReservationStatus.SETTLED
    assert reservation.charged_tokens == charged
    for counter in QuotaCounter.objects.filter(user=user):
        assert (counter.reserved_tokens, counter.used_tokens) == (0, charged)
    assert UsageRecord.objects.filter(message_id=lost.pk).count() == 1
    alive.refresh_from_db()
    fresh.refresh_from_db()
    assert alive.status == fresh.status == MessageStatus.STREAMING
    # Exactly once: a second sweep finds nothing.
    assert chat_messages_recover_orphans() == []


async def test_follower_ends_when_the_generation_is_lost(user, settings):
    """Another worker generated this answer and died: the follower ends within seconds."""
    settings.CHAT_ORPHAN_SECONDS = 7200
    settings.CHAT_HEARTBEAT_TTL = 1
    settings.CHAT_STREAM_FOLLOW_IDLE = 0.2
    message = await database_sync_to_async(_active_message)(
        user, response="Half an ans", ends=[4, 9, 11]
    )
    # Its worker was beating a moment ago.
    await database_sync_to_async(heartbeats_refresh)([message.pk])
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    await ws.send_json_to({"type": "resume", "message_id": message.pk, "after_seq": 1})
    frames = await until_end(ws, timeout=10)
    await ws.disconnect()
    tokens = [(f["seq"], f["content"]) for f in frames if f["type"] == "token"]
    assert tokens == [(2, " an a"), (3, "ns")]
    assert frames[-1]["status"] == "incomplete"


# --- the shared log (scaled mode) ----------------------------------------------------------


@needs_redis
async def test_frame_log_reads_from_any_position(db):
    log = frame_log()
    assert log is not None
    message_id = 10**9 + os.getpid()
    org = "org-a"
    await log.writer.delete(log.key(message_id, org))
    for seq in (1, 2, 3):
        log.append(message_id, TOKEN, seq, json.dumps({"seq": seq}), organization_id=org)
    log.append(message_id, ERROR, 3, '{"type":"error"}', organization_id=org)
    log.append(message_id, END, 3, '{"type":"end"}', organization_id=org)
    await log.drain()
    entries = await log.read(message_id, "1-0", organization_id=org, block_seconds=0.1)
    assert [parse_entry_id(e) for e, _ in entries] == [
        (TOKEN, 2),
        (TOKEN, 3),
        (ERROR, 3),
        (END, 3),
    ]
    assert entries[0][1] == '{"seq": 2}'
    # The log's name carries the organization: the same message id elsewhere reads nothing.
    assert org in log.key(message_id, org)
    assert await log.read(message_id, "0-0", organization_id="org-b", block_seconds=0.1) == []
    assert 0 < await log.writer.ttl(log.key(message_id, org)) <= 600
    await log.writer.delete(log.key(message_id, org))


@needs_redis
async def test_exhausted_pool_is_an_error_not_a_hang(db, settings):
    settings.CHAT_STREAM_REDIS_MAX_CONNECTIONS = 1
    settings.CHAT_STREAM_REDIS_POOL_TIMEOUT = 0.2
    log = frame_log()
    blocked = asyncio.create_task(
        log.read(10**9 + 1, "0-0", organization_id="o", block_seconds=1.5)
    )
    await asyncio.sleep(0.1)
    with pytest.raises(FrameLogUnavailable):
        await log.read(10**9 + 2, "0-0", organization_id="o", block_seconds=0.1)
    await blocked


@needs_redis
async def test_follower_on_another_worker_reads_the_shared_log(user, settings):
    """Frames another worker appends reach this socket in order, with the end."""
    settings.CHAT_STREAM_FOLLOW_IDLE = 5
    message = await database_sync_to_async(_active_message)(user, response="t1 t2 ", ends=[3, 6])
    await database_sync_to_async(heartbeats_refresh)([message.pk])
    log = frame_log()
    org = message.organization_id
    await log.writer.delete(log.key(message.pk, org))
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    await ws.send_json_to({"type": "resume", "message_id": message.pk, "after_seq": 0})
    head = [await ws.receive_json_from(timeout=5) for _ in range(4)]
    assert [f["type"] for f in head] == ["start", "sources", "token", "token"]

    def frame(seq: int, content: str) -> str:
        data = {"type": "token", "message_id": message.pk, "seq": seq, "content": content}
        return json.dumps(data)

    # The other worker's log holds every frame (1 and 2 are already replayed from the database).
    for seq in (1, 2, 3, 4):
        log.append(message.pk, TOKEN, seq, frame(seq, f"t{seq} "), organization_id=org)
    end = {"type": "end", "message_id": message.pk, "status": "complete", "seq": 4}
    log.append(message.pk, END, 4, json.dumps(end), organization_id=org)
    await log.drain()
    rest = await until_end(ws, timeout=5)
    await ws.disconnect()
    assert_in_order(head + rest)
    assert text_of(head + rest) == "t1 t2 t3 t4 "
    assert rest[-1] == end
    await log.writer.delete(log.key(message.pk, org))


async def test_frames_of_a_generation_land_in_the_shared_log(
    openai_settings, settings, access_token
):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("the shared frame log needs REDIS_URL (scaled mode)")
    openai_settings.script(tokens=20, delay=0.002)
    ws = await open_socket(access_token)
    start = await _start(ws)
    frames = await until_end(ws)
    await ws.disconnect()
    await generations_wait(timeout=10)
    log = frame_log()
    org = await database_sync_to_async(_organization_of_message)(start["message_id"])
    entries = await log.read(start["message_id"], "0-0", organization_id=org, block_seconds=0.1)
    assert [json.loads(text) for _, text in entries] == frames
    await log.writer.delete(log.key(start["message_id"], org))


def _organization_of_message(message_id: int):
    return ChatMessage.all_organizations.get(pk=message_id).organization_id


# --- overload: bounded Redis pools answer an error frame, never a hang ---------------------


def _bound_cache_pool(settings) -> None:
    """The shared cache's pool bounded to one connection, waited for 0.2 s."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["OPTIONS"].update(max_connections=1, timeout=0.2)
    settings.CACHES = caches  # Django rebuilds its cache handlers on this change


def _take_cache_connections() -> list:
    pool = cache._cache._get_connection_pool(True)
    return [pool.get_connection() for _ in range(pool.max_connections)]


def _give_back(connections: list) -> None:
    pool = cache._cache._get_connection_pool(True)
    for connection in connections:
        pool.release(connection)


@needs_redis
async def test_an_exhausted_cache_pool_is_an_error_frame_and_stores_nothing_streaming(
    openai_settings, settings, user
):
    openai_settings.script(tokens=5)
    _bound_cache_pool(settings)
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    held = await database_sync_to_async(_take_cache_connections)()
    try:
        await ws.send_json_to({"type": "message", "content": "go"})
        frame = await ws.receive_json_from(timeout=10)
        assert frame["type"] == "error", frame
        assert frame["code"] == "SERVICE_UNAVAILABLE", frame
        closed = await ws.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4503}
    finally:
        await database_sync_to_async(_give_back)(held)
    # Refused before anything was stored or reserved: no answer is left streaming.
    statuses = await database_sync_to_async(
        lambda: list(ChatMessage.objects.filter(user=user).values_list("status", flat=True))
    )()
    assert MessageStatus.STREAMING not in statuses and MessageStatus.PENDING not in statuses
    assert not await database_sync_to_async(
        QuotaReservation.objects.filter(user=user, status=ReservationStatus.ACTIVE).exists
    )()
    # The pool has room again: the next socket streams normally.
    ws = await open_socket(token)
    await _start(ws)
    frames = await until_end(ws)
    await ws.disconnect()
    assert frames[-1]["status"] == "complete"


@needs_redis
async def test_a_cache_pool_exhausted_mid_answer_still_ends_the_answer(
    openai_settings, settings, user
):
    """Heartbeats and cancel polls fail while the pool is taken; the answer still ends, is
    saved and its reservation settled: nothing is left streaming."""
    settings.CHAT_HEARTBEAT_INTERVAL = 0.05
    openai_settings.script(tokens=40, delay=0.01)
    _bound_cache_pool(settings)
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    start = await _start(ws)
    await ws.receive_json_from(timeout=5)  # the first token: the generation runs
    held = await database_sync_to_async(_take_cache_connections)()
    try:
        frames = await until_end(ws, timeout=20)
    finally:
        await database_sync_to_async(_give_back)(held)
    await ws.disconnect()
    assert frames[-1]["status"] in ("complete", "incomplete", "failed"), frames[-1]
    message = await database_sync_to_async(ChatMessage.objects.get)(pk=start["message_id"])
    assert message.status == frames[-1]["status"]
    assert not await database_sync_to_async(
        QuotaReservation.objects.filter(user=user, status=ReservationStatus.ACTIVE).exists
    )()


@needs_redis
async def test_an_exhausted_frame_log_pool_is_an_error_frame_for_a_follower(user, settings):
    """A resume of an answer generated on another worker, while every connection of the
    followers' pool is busy: a clear error frame at once, and once the pool has room (and the
    generation has died) the next resume ends the answer as incomplete."""
    settings.CHAT_STREAM_REDIS_MAX_CONNECTIONS = 1
    settings.CHAT_STREAM_REDIS_POOL_TIMEOUT = 0.2
    settings.CHAT_HEARTBEAT_TTL = 1
    message = await database_sync_to_async(_active_message)(user, response="t1 ", ends=[3])
    await database_sync_to_async(heartbeats_refresh)([message.pk])  # "another worker" runs it
    log = frame_log()
    held = await log.readers.connection_pool.get_connection()
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    try:
        await ws.send_json_to({"type": "resume", "message_id": message.pk, "after_seq": 0})
        frames = [await ws.receive_json_from(timeout=5) for _ in range(4)]
        assert [f["type"] for f in frames] == ["start", "sources", "token", "error"], frames
        assert frames[-1]["code"] == "SERVICE_UNAVAILABLE"
        assert frames[-1]["message_id"] == message.pk
    finally:
        await log.readers.connection_pool.release(held)
    # The "other worker" is gone (its heartbeat lapses): the next resume closes the answer.
    await database_sync_to_async(cache.delete)(heartbeat_key(message.pk))
    await database_sync_to_async(ChatMessage.objects.filter(pk=message.pk).update)(
        updated_at=timezone.now() - timedelta(seconds=5)
    )
    await ws.send_json_to({"type": "resume", "message_id": message.pk, "after_seq": 1})
    frames = await until_end(ws, timeout=10)
    await ws.disconnect()
    assert frames[-1]["status"] == "incomplete"
    refreshed = await database_sync_to_async(ChatMessage.objects.get)(pk=message.pk)
    assert refreshed.status == MessageStatus.INCOMPLETE
