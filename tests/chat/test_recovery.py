"""Answers whose generating worker died are closed, not left streaming forever."""

import asyncio
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tokens import issue_tokens
from chat.models import ChatMessage, ChatSession, MessageStatus
from chat.recovery import chat_messages_recover_orphans
from tests.chat.ws import open_socket, until_end


def _orphan(user, *, age_seconds: float, status: str = MessageStatus.STREAMING) -> ChatMessage:
    session = ChatSession.objects.create(user=user, title="t")
    message = ChatMessage.objects.create(
        session=session,
        user=user,
        message="hi",
        response="Half an ans",
        token_ends=[4, 9, 11],
        status=status,
    )
    ChatMessage.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(seconds=age_seconds)
    )
    return message


@pytest.mark.django_db
def test_quiet_active_messages_are_closed_as_incomplete(user):
    old = _orphan(user, age_seconds=3600)
    fresh = _orphan(user, age_seconds=1)
    done = _orphan(user, age_seconds=3600, status=MessageStatus.COMPLETE)

    assert chat_messages_recover_orphans() == [old.pk]

    old.refresh_from_db()
    assert old.status == MessageStatus.INCOMPLETE
    assert old.response == "Half an ans"
    assert old.metadata["error"]["code"] == "GENERATION_LOST"
    fresh.refresh_from_db()
    done.refresh_from_db()
    assert fresh.status == MessageStatus.STREAMING
    assert done.status == MessageStatus.COMPLETE


@pytest.mark.django_db
def test_command_reports_recovered_messages(user, capsys):
    _orphan(user, age_seconds=50)
    call_command("chat_recover", "--older-than", "10")
    assert "Recovered 1 orphaned message(s)." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
async def test_resume_of_an_orphan_replays_and_ends(user):
    from channels.db import database_sync_to_async

    message = await database_sync_to_async(_orphan)(user, age_seconds=3600)
    token = (await database_sync_to_async(issue_tokens)(user=user))["access"]
    ws = await open_socket(token)
    await ws.send_json_to({"type": "resume", "message_id": message.pk, "after_seq": 1})
    frames = await until_end(ws, timeout=5)
    await ws.disconnect()
    tokens = [f for f in frames if f["type"] == "token"]
    assert [(f["seq"], f["content"]) for f in tokens] == [(2, " an a"), (3, "ns")]
    assert frames[-1]["status"] == "incomplete"


@pytest.mark.django_db
def test_a_celery_worker_start_closes_lost_answers(user, settings):
    from chat.tasks import _recover_on_worker_start

    lost = _orphan(user, age_seconds=settings.CHAT_HEARTBEAT_TTL + 5)
    _recover_on_worker_start()  # the worker_ready signal's handler (tasks run eagerly here)
    lost.refresh_from_db()
    assert lost.status == MessageStatus.INCOMPLETE


@pytest.mark.django_db(transaction=True)
async def test_the_asgi_lifespan_startup_closes_lost_answers(user, settings):
    """What uvicorn (``config.serve``) runs before its first request."""
    from asgiref.sync import sync_to_async

    from config.asgi import application

    lost = await sync_to_async(_orphan)(user, age_seconds=settings.CHAT_HEARTBEAT_TTL + 5)
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []
    await inbox.put({"type": "lifespan.startup"})
    await inbox.put({"type": "lifespan.shutdown"})

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(application({"type": "lifespan"}, inbox.get, send), timeout=60)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    await sync_to_async(lost.refresh_from_db)()
    assert lost.status == MessageStatus.INCOMPLETE
