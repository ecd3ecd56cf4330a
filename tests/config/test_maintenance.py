"""Periodic maintenance runs by itself: Celery beat's schedule in scaled mode, the server's
timer in embedded mode; the broker redelivers a dead worker's message in time."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, MessageStatus
from config.periodic import EmbeddedScheduler
from core.actor import Actor
from documents.models import Document, DocumentStatus
from metering.models import QuotaCounter, QuotaReservation, ReservationStatus
from metering.quotas import quota_reserve
from tests.ai.factories import edge_store_fixture, make_pdf, upload  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
MAINTENANCE = {
    "chat.recover_orphans",
    "ai.documents_sweep",
    "ai.quota_reservations_expire",
    "accounts.user_deletions_resume",
    "finetuning.jobs_sync",
    "billing.maintenance",
    "tenants.organization_deletions_resume",
}


def test_beat_schedules_every_maintenance_task_and_workers_know_them(settings):
    from config.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == MAINTENANCE
    assert all(name in app.tasks for name in tasks)
    assert all(
        0 < float(entry["schedule"]) <= 60 for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )


def test_a_dead_workers_message_comes_back_before_an_hour_but_after_any_task():
    from accounts.tasks import email_deliver
    from config.celery import app
    from documents.tasks import document_ingest_task

    visibility = app.conf.broker_transport_options["visibility_timeout"]
    # Longer than the longest task (else a running ingestion is handed to a second worker)
    # and than every retry countdown (else a waiting email is sent twice)...
    assert visibility > document_ingest_task.time_limit
    assert visibility > email_deliver.retry_backoff_max
    # ...and far below Redis's default of one hour.
    assert visibility < 3600
    assert document_ingest_task.acks_late is True


@pytest.mark.django_db(transaction=True)
def test_the_timer_recovers_chats_documents_and_reservations(user, edge_store, settings):
    settings.QUOTA_RESERVATION_TTL = 60
    # A chat answer whose worker died.
    session = ChatSession.objects.create(user=user, title="t")
    message = ChatMessage.objects.create(
        session=session, user=user, message="hi", response="Half", status=MessageStatus.STREAMING
    )
    ChatMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    # A reservation its worker never settled, of a user who does not chat again.
    reservation = quota_reserve(actor=Actor(user=user), estimate=500)
    QuotaReservation.objects.filter(pk=reservation).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    # A document whose ingestion lost its worker.
    from documents.services import document_create

    document, _ = document_create(
        actor=Actor(user=user),
        uploaded_file=upload("d.pdf", make_pdf(["page one"])),
        dispatch=False,
    )
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING,
        updated_at=timezone.now() - timedelta(seconds=settings.INGEST_STALL_SECONDS + 1),
    )

    scheduler = EmbeddedScheduler(settings.CELERY_BEAT_SCHEDULE)
    due = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, 0.0)
    scheduler.run_due(due, now=1.0)

    message.refresh_from_db()
    assert message.status == MessageStatus.INCOMPLETE
    assert QuotaReservation.objects.get(pk=reservation).status == ReservationStatus.EXPIRED
    assert QuotaCounter.objects.filter(user=user, reserved_tokens__gt=0).count() == 0
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    # Each entry is due again one interval later.
    assert due == {
        name: 1.0 + float(entry["schedule"])
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }


def test_the_embedded_server_starts_the_timer(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "QDRANT_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DATA_DIR=str(tmp_path))
    code = (
        "import json, threading, config.asgi; "
        "print(json.dumps(sorted(t.name for t in threading.enumerate())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    threads = json.loads(result.stdout.strip().splitlines()[-1])
    assert "embedded-periodic" in threads


_LOST_ANSWER = """
import datetime
from core.tenancy import platform_scope
_scope = platform_scope()  # the script is platform code: it writes into the user's organization
_scope.__enter__()
from django.utils import timezone
from accounts.models import User
from core.actor import Actor
from metering.quotas import quota_reserve
from chat.models import ChatMessage, ChatSession
user = User.objects.create_user("lost@example.com", "pw-123456789", is_verified=True)
session = ChatSession.objects.create(user=user, title="t")
reservation = quota_reserve(actor=Actor(user=user), estimate=500)
message = ChatMessage.objects.create(
    session=session, user=user, message="hi", response="Half an ans", token_ends=[4, 11],
    status="streaming", metadata={"reservation_id": reservation, "prompt_tokens": 9},
)
ChatMessage.objects.filter(pk=message.pk).update(
    updated_at=timezone.now() - datetime.timedelta(minutes=5)
)
print(message.pk, reservation)
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_server_start_closes_what_a_killed_server_left(tmp_path):
    """``python -m config.serve`` (uvicorn, the ASGI lifespan) closes a lost answer as it
    starts: no request, no socket, no periodic timer (off in these settings)."""
    import sqlite3
    import time

    from tests.multiprocess.procs import manage, start_uvicorn

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "QDRANT_", "PYTEST_", "DJANGO_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DATA_DIR=str(tmp_path))
    manage(env, "migrate", "--noinput", timeout=300)
    message_id, reservation_id = manage(env, "shell", "-c", _LOST_ANSWER).split()[-2:]

    def row(sql: str, *params: object) -> tuple:
        with sqlite3.connect(tmp_path / "db.sqlite3", timeout=10) as db:
            return db.execute(sql, params).fetchone()

    assert row("SELECT status FROM chat_chatmessage WHERE id = ?", message_id) == ("streaming",)
    server = start_uvicorn(env, name="restarted", own_data_dir=False)
    try:
        deadline = time.monotonic() + 20
        while row("SELECT status FROM chat_chatmessage WHERE id = ?", message_id) != (
            "incomplete",
        ):
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
    finally:
        server.stop()
    assert row("SELECT status FROM metering_quotareservation WHERE id = ?", reservation_id) == (
        "settled",
    )
