"""Deleting a user who has chatted: preview, the background job, resuming, every door."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts import deletion
from accounts.apikeys import api_key_create
from accounts.models import ApiKey, User, UserDeletion, UserDeletionStatus
from ai.models import Generation
from ai.vectorstore import collection_name
from chat.models import ChatMessage, ChatSession
from documents.models import Document
from documents.services import document_create
from metering.models import UsageRecord
from ops.models import AuditEvent
from tests.ai.factories import edge_store_fixture, upload  # noqa: F401
from tests.chat.factories import ChatMessageFactory
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def chatter(edge_store):
    """A user with chats, a document (file + vectors), a generation, usage and an API key."""
    user = UserFactory(email="chatter@example.com")
    for _ in range(3):
        ChatMessageFactory(session__user=user)
    document, _ = document_create(
        owner=user, uploaded_file=upload("notes.txt", b"orchard lantern copper words")
    )
    document.refresh_from_db()
    Generation.objects.create(user=user, prompt="p", response="r", model="m")
    for n in range(2):
        UsageRecord.objects.create(
            user=user, kind="chat", provider="offline", model="m", total_tokens=10 + n
        )
    api_key_create(user=user, name="ci", password=DEFAULT_PASSWORD)
    return user, document


def _vectors(store, document) -> int:
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    return async_to_sync(store.count)(name, document_id=str(document.pk))


def test_the_preview_lists_what_goes_and_what_is_kept(chatter):
    user, document = chatter
    preview = deletion.user_deletion_preview(user=user)
    assert preview.removed["chat sessions"] == 3
    assert preview.removed["chat messages"] == 3
    assert preview.removed["documents (with their stored files)"] == 1
    assert preview.removed["vectors"] == document.chunks_indexed >= 1
    assert preview.removed["API keys"] == 1
    assert preview.removed["generations (prompt history)"] == 1
    # Two chat records and the document's embedding call.
    usage = UsageRecord.objects.filter(user=user).count()
    assert usage == 3 and preview.kept == {"usage records (anonymised)": usage}


def test_console_delete_page_shows_the_preview_and_the_job_erases_everything(
    console, admin_user, chatter, edge_store
):
    user, document = chatter
    usage = UsageRecord.objects.filter(user=user).count()
    file_path = Path(document.file.path)
    assert file_path.exists() and _vectors(edge_store, document) >= 1

    page = console.get(f"/admin/accounts/user/{user.pk}/delete/")
    html = page.content.decode()
    assert page.status_code == 200
    for text in ("Chat sessions", "Vectors", "API keys", "Usage records (anonymised)"):
        assert text in html
    assert "Deactivate with this reason" in html

    response = console.post(f"/admin/accounts/user/{user.pk}/delete/", {"choice": "delete"})
    job = UserDeletion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/accounts/userdeletion/{job.pk}/change/"
    job.refresh_from_db()
    assert job.status == UserDeletionStatus.DONE, job.error
    assert job.user is None and job.user_label == f"chatter@example.com (#{user.pk})"
    assert job.removed["chats"] == 3 and job.removed["documents"] == 1
    assert job.removed["usage_records"] == usage and job.removed["account"] == 1

    assert not User.objects.filter(pk=user.pk).exists()
    assert not ChatSession.objects.filter(user_id=user.pk).exists()
    assert not ChatMessage.objects.filter(user_id=user.pk).exists()
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not ApiKey.objects.filter(user_id=user.pk).exists()
    assert not Generation.objects.filter(user_id=user.pk).exists()
    # Accounting keeps every token, with nobody attached.
    assert UsageRecord.objects.filter(user__isnull=True).count() == usage
    assert UsageRecord.objects.filter(total_tokens__in=[10, 11], user__isnull=True).count() == 2
    assert not file_path.exists()
    assert _vectors(edge_store, document) == 0

    actions = list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))
    assert "user_deletion_requested" in actions and actions[-1] == "user_deleted"
    done = AuditEvent.objects.get(action="user_deleted")
    assert done.actor == admin_user and done.details["removed"]["chats"] == 3
    # The job page answers (read-only) after the user is gone.
    assert console.get(f"/admin/accounts/userdeletion/{job.pk}/change/").status_code == 200


def test_deactivate_instead_keeps_everything_with_the_reason(console, admin_user, chatter):
    user, _ = chatter
    missing = console.post(f"/admin/accounts/user/{user.pk}/delete/", {"choice": "deactivate"})
    assert "Say why the account is deactivated" in missing.content.decode()
    user.refresh_from_db()
    assert user.is_active

    console.post(
        f"/admin/accounts/user/{user.pk}/delete/",
        {"choice": "deactivate", "reason": "Left the company"},
    )
    user.refresh_from_db()
    assert not user.is_active and user.deactivation_reason == "Left the company"
    assert ChatSession.objects.filter(user=user).count() == 3
    event = AuditEvent.objects.get(action="user_suspended")
    assert event.details["reason"] == "Left the company" and event.actor == admin_user
    assert not UserDeletion.objects.exists()
    # Shown on the account page.
    assert (
        "Left the company"
        in console.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    )


def test_an_admin_cannot_delete_themself(console, admin_user):
    page = console.get(f"/admin/accounts/user/{admin_user.pk}/delete/").content.decode()
    assert "You cannot delete your own account." in page
    assert "deletion-delete" not in page
    console.post(f"/admin/accounts/user/{admin_user.pk}/delete/", {"choice": "delete"})
    assert User.objects.filter(pk=admin_user.pk, is_active=True).exists()
    assert not UserDeletion.objects.exists()


def test_bulk_delete_is_not_offered(console):
    assert "delete_selected" not in console.get("/admin/accounts/user/").content.decode()


def test_a_failed_job_resumes_where_it_stopped(admin_user, chatter, monkeypatch, settings):
    user, document = chatter
    settings.USER_DELETION_STALL_SECONDS = 30
    part = next(p for p in deletion.user_data_parts() if p.key == "documents")
    calls = {"n": 0}
    original = part.erase

    def failing(u, limit):
        calls["n"] += 1
        raise OSError("disk unavailable")

    monkeypatch.setitem(
        deletion._parts, "documents", deletion.UserDataPart(**{**part.__dict__, "erase": failing})
    )
    job = deletion.user_deletion_request(actor=admin_user, user=user)
    job.refresh_from_db()
    # Chats went before the failure and stay gone; the job waits to be resumed.
    assert job.status == UserDeletionStatus.PENDING and job.attempts == 1
    assert "disk unavailable" in job.error and job.removed["chats"] == 3
    assert User.objects.filter(pk=user.pk, is_active=False).exists()
    assert Document.objects.filter(pk=document.pk).exists()

    monkeypatch.setitem(deletion._parts, "documents", part)
    assert part.erase is original
    # Not yet stale: the maintenance leaves it to its runner.
    assert deletion.user_deletions_resume() == 0
    UserDeletion.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=31)
    )
    assert deletion.user_deletions_resume() == 1
    job.refresh_from_db()
    assert job.status == UserDeletionStatus.DONE and job.removed["chats"] == 3
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_job_fails_for_good_after_its_attempts_and_can_be_retried(
    console, admin_user, chatter, monkeypatch, settings
):
    user, _ = chatter
    settings.USER_DELETION_MAX_ATTEMPTS = 1
    part = deletion._parts["generations"]

    def failing(u, limit):
        raise RuntimeError("boom")

    monkeypatch.setitem(
        deletion._parts, "generations", deletion.UserDataPart(**{**part.__dict__, "erase": failing})
    )
    job = deletion.user_deletion_request(actor=admin_user, user=user)
    job.refresh_from_db()
    assert job.status == UserDeletionStatus.FAILED
    assert AuditEvent.objects.filter(action="user_deletion_failed").exists()
    monkeypatch.setitem(deletion._parts, "generations", part)
    console.post(
        "/admin/accounts/userdeletion/",
        {"action": "retry_jobs", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert job.status == UserDeletionStatus.DONE
    assert AuditEvent.objects.filter(action="user_deletion_retried").exists()


def test_a_running_job_is_claimed_once(admin_user, chatter, settings):
    user, _ = chatter
    job = UserDeletion.objects.create(user=user, user_label="x", requested_by=admin_user)
    assert deletion._claim(job.pk) is True
    # Held with a fresh heartbeat: nobody else gets it...
    assert deletion._claim(job.pk) is False
    assert deletion.user_deletion_run(job_id=job.pk) is None
    # ...until the heartbeat is stale (its worker died).
    UserDeletion.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.USER_DELETION_STALL_SECONDS + 1)
    )
    assert deletion._claim(job.pk) is True


def test_asking_twice_returns_the_open_job(admin_user, chatter, settings):
    user, _ = chatter
    settings.USER_DELETION_RUNNER = "celery"  # eager in tests: queued through the task
    dispatched = []
    from accounts import tasks

    original = tasks.user_deletion_task.delay
    tasks.user_deletion_task.delay = lambda **kw: dispatched.append(kw)
    try:
        first = deletion.user_deletion_request(actor=admin_user, user=user)
        second = deletion.user_deletion_request(actor=admin_user, user=user)
    finally:
        tasks.user_deletion_task.delay = original
    assert first.pk == second.pk
    assert dispatched == [{"job_id": first.pk}]
    assert AuditEvent.objects.filter(action="user_deletion_requested").count() == 1
    # The worker side: the task runs the job.
    tasks.user_deletion_task.apply(kwargs={"job_id": first.pk})
    first.refresh_from_db()
    assert first.status == UserDeletionStatus.DONE


def test_the_embedded_runner_deletes_on_a_background_thread(
    admin_user, chatter, settings, monkeypatch
):
    user, _ = chatter
    settings.USER_DELETION_RUNNER = "thread"
    ran_on: list[str] = []
    finished = threading.Event()
    run = deletion.user_deletion_run

    def recording_run(**kwargs):
        ran_on.append(threading.current_thread().name)
        try:
            return run(**kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(deletion, "user_deletion_run", recording_run)
    job = deletion.user_deletion_request(actor=admin_user, user=user)
    assert finished.wait(timeout=60)
    job.refresh_from_db()
    assert ran_on == [f"user-deletion-{job.pk}"]
    assert job.status == UserDeletionStatus.DONE, job.error
    assert not User.objects.filter(pk=user.pk).exists()


def test_the_maintenance_schedule_resumes_deletions():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "accounts.user_deletions_resume" in tasks


# --- The other doors: the API and the command hold the same rules -----------------------------


def _api(user):
    from rest_framework.test import APIClient

    from accounts.tokens import issue_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    return client


def test_the_api_previews_and_queues_the_same_job(admin_user, chatter):
    user, _ = chatter
    api = _api(admin_user)
    preview = api.get(f"/api/v1/users/{user.pk}/deletion")
    assert preview.status_code == 200
    body = preview.json()
    assert body["removed"]["chat sessions"] == 3 and body["job"] is None
    assert "usage records (anonymised)" in body["kept"]

    response = api.post(f"/api/v1/users/{user.pk}/deletion")
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "done" and job["removed"]["chats"] == 3
    assert not User.objects.filter(pk=user.pk).exists()
    assert AuditEvent.objects.filter(action="user_deleted", actor=admin_user).exists()


def test_the_api_refuses_self_deletion_and_non_admins(admin_user, user):
    from tests.accounts.helpers import assert_envelope

    body = assert_envelope(_api(admin_user).post(f"/api/v1/users/{admin_user.pk}/deletion"), 400)
    assert body["message"] == "You cannot delete your own account."
    assert_envelope(_api(user).get(f"/api/v1/users/{admin_user.pk}/deletion"), 403)
    assert_envelope(_api(user).post(f"/api/v1/users/{admin_user.pk}/deletion"), 403)
    assert User.objects.filter(pk=admin_user.pk, is_active=True).exists()
    assert not UserDeletion.objects.exists()


def test_the_api_suspends_with_a_reason(admin_user, user):
    response = _api(admin_user).post(
        f"/api/v1/users/{user.pk}/suspend", {"reason": "Contract ended"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["deactivation_reason"] == "Contract ended"
    assert AuditEvent.objects.get(action="user_suspended").details["reason"] == "Contract ended"


def test_the_command_previews_then_deletes(chatter, capsys):
    from django.core.management import call_command

    user, _ = chatter
    call_command("delete_user", user.email)
    out = capsys.readouterr().out
    assert "chat sessions: 3" in out and "Nothing deleted" in out
    assert User.objects.filter(pk=user.pk, is_active=True).exists()

    call_command("delete_user", user.email, "--yes")
    out = capsys.readouterr().out
    assert "done" in out
    assert not User.objects.filter(pk=user.pk).exists()
    assert AuditEvent.objects.filter(action="user_deleted").exists()
