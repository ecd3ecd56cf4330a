"""Deleting an organization: closed at once, erased by a resumable job that keeps usage
records and audit events, and leaves every other organization untouched."""

import dataclasses
import io
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from accounts.apikeys import api_key_create
from accounts.models import ApiKey
from ai.vectorstore import collection_name
from chat.models import ChatMessage, ChatSession
from config.exceptions import PermissionDeniedError
from core.actor import Actor
from documents.models import Document
from metering.models import UsageRecord
from ops.models import AuditEvent
from tenants import deletion
from tenants.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationDeletion,
    OrganizationDeletionStatus,
    OrganizationStatus,
)
from tests.ai.factories import edge_store_fixture, upload  # noqa: F401
from tests.documents.tenancy import actor_in, client_in, member, organization_with
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerKilled(BaseException):
    """Stands for the worker process dying mid-job (not an error the job can record)."""


def _upload(client, name: str, text: bytes) -> Document:
    response = client.post(
        "/api/v1/documents",
        {"file": upload(name, text), "visibility": "shared"},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    return Document.objects.get(pk=response.json()["id"])


@pytest.fixture
def doomed(edge_store):
    """An organization with documents (files, vectors), chats, an API key, an invitation,
    usage and audit rows; and another organization sharing a member, which must survive."""
    org = organization_with("Doomed")
    owner = member(org, role="owner")
    alice = member(org, role="member")
    client = client_in(alice, org)
    documents = [
        _upload(client, f"d{i}.txt", f"Doomed note {i} about otters.".encode()) for i in range(3)
    ]
    session = ChatSession.objects.create(organization=org, user=alice, title="Plans")
    ChatMessage.objects.create(organization=org, session=session, user=alice, message="hi")
    api_key_create(name="ci", password=DEFAULT_PASSWORD, actor=actor_in(alice, org))
    Invitation.objects.create(
        organization=org,
        email="new@example.com",
        token_hash="a" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    UsageRecord.objects.create(
        organization_id=org.pk, user=alice, kind="chat", provider="fake", model="m", total_tokens=7
    )
    AuditEvent.objects.create(organization_id=org.pk, action="test.event")

    survivor = organization_with("Survivor")
    member(survivor, role="owner", user=alice)
    kept = _upload(client_in(alice, survivor), "kept.txt", b"Survivor notes about otters.")
    return {
        "org": org,
        "owner": owner,
        "alice": alice,
        "documents": documents,
        "survivor": survivor,
        "kept": kept,
        "store": edge_store,
    }


def _vectors(store, document: Document) -> int:
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    return async_to_sync(store.count)(name, document_id=str(document.pk))


def _assert_erased(ctx) -> None:
    org = ctx["org"]
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert not Document.all_organizations.filter(organization_id=org.pk).exists()
    for document in ctx["documents"]:
        assert _vectors(ctx["store"], document) == 0
        assert not default_storage.exists(document.file.name)
    assert not ChatSession.all_organizations.filter(organization_id=org.pk).exists()
    assert not ChatMessage.all_organizations.filter(organization_id=org.pk).exists()
    assert not Membership.objects.filter(organization_id=org.pk).exists()
    assert not Invitation.objects.filter(organization_id=org.pk).exists()
    assert not ApiKey.objects.filter(organization_id=org.pk).exists()
    # Kept for accounting, with the organization's id.
    usage = UsageRecord.objects.filter(organization_id=org.pk)
    assert usage.filter(total_tokens=7).exists()
    assert AuditEvent.objects.filter(organization_id=org.pk, action="test.event").exists()
    # The other organization is untouched, its vectors and file too.
    kept = ctx["kept"]
    assert Document.all_organizations.filter(pk=kept.pk).exists()
    assert _vectors(ctx["store"], kept) > 0
    assert default_storage.exists(kept.file.name)
    assert Membership.objects.filter(organization=ctx["survivor"], user=ctx["alice"]).exists()


def test_only_an_owner_or_a_platform_admin_may_delete(doomed):
    org = doomed["org"]
    with pytest.raises(PermissionDeniedError):
        deletion.organization_delete_request(actor=actor_in(doomed["alice"], org), organization=org)
    assert Organization.objects.get(pk=org.pk).status == OrganizationStatus.ACTIVE
    job = deletion.organization_delete_request(
        actor=actor_in(doomed["owner"], org), organization=org
    )
    # The inline runner (tests) ran the job when the request committed.
    assert OrganizationDeletion.objects.get(pk=job.pk).status == OrganizationDeletionStatus.DONE
    _assert_erased(doomed)
    finished = OrganizationDeletion.objects.get(pk=job.pk)
    assert finished.organization is None and finished.organization_key == org.pk
    assert finished.removed["documents"] == 3
    assert finished.removed["chats"] == 1
    assert finished.removed["organization"] == 1
    assert AuditEvent.objects.filter(action="organization.deleted").exists()


def test_the_organization_closes_at_once(doomed):
    org, alice = doomed["org"], doomed["alice"]
    client = client_in(alice, org)
    assert client.get("/api/v1/documents").status_code == 200
    deletion.organization_delete_request(
        actor=actor_in(doomed["owner"], org), organization=org, dispatch=False
    )
    assert Organization.objects.get(pk=org.pk).status == OrganizationStatus.DELETING
    # Members (their cached memberships cleared) are refused before the job even ran.
    response = client.get("/api/v1/documents")
    assert response.status_code == 404
    assert response.json()["code"] == "TENANT_NOT_FOUND"


def test_a_crashed_job_resumes_where_it_stopped(doomed, monkeypatch):
    org = doomed["org"]
    # One document per batch, and the worker dies during the second batch.
    part = deletion._parts["documents"]
    calls = {"n": 0}

    def dying_erase(organization_id, limit):
        calls["n"] += 1
        if calls["n"] == 2:
            raise WorkerKilled()
        return part.erase(organization_id, limit)

    monkeypatch.setitem(
        deletion._parts, "documents", dataclasses.replace(part, erase=dying_erase, batch=1)
    )
    job = deletion.organization_delete_request(
        actor=Actor(user=None, system=True), organization=org, dispatch=False
    )
    with pytest.raises(WorkerKilled):
        deletion.organization_deletion_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == OrganizationDeletionStatus.RUNNING
    assert job.removed == {"chats": 1, "documents": 1}
    assert Document.all_organizations.filter(organization_id=org.pk).count() == 2
    # Another runner does not take a job whose heartbeat is fresh ...
    assert deletion.organization_deletions_resume() == 0
    # ... the maintenance sweep does once it went silent.
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert deletion.organization_deletions_resume() == 1
    job.refresh_from_db()
    assert job.status == OrganizationDeletionStatus.DONE
    assert job.removed["documents"] == 3
    _assert_erased(doomed)


def test_a_failing_part_is_recorded_and_retried(doomed, monkeypatch):
    org = doomed["org"]
    part = deletion._parts["chats"]

    def broken(organization_id, limit):
        raise RuntimeError("database went away")

    monkeypatch.setitem(deletion._parts, "chats", dataclasses.replace(part, erase=broken))
    job = deletion.organization_delete_request(
        actor=Actor(user=None, system=True), organization=org, dispatch=False
    )
    with pytest.raises(RuntimeError):
        deletion.organization_deletion_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == OrganizationDeletionStatus.PENDING
    assert job.attempts == 1 and "database went away" in job.error
    monkeypatch.setitem(deletion._parts, "chats", part)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert deletion.organization_deletions_resume() == 1
    _assert_erased(doomed)


def test_delete_organization_command(doomed):
    out = io.StringIO()
    call_command("delete_organization", doomed["org"].slug, stdout=out)
    assert "Deleted Doomed (doomed)" in out.getvalue()
    assert "documents 3" in out.getvalue()
    _assert_erased(doomed)
