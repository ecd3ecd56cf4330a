"""The Document admin: listing with state, the reindex action, delete takes the vectors too."""

import pytest
from asgiref.sync import async_to_sync

from ai.vectorstore import collection_name
from documents.models import Document, DocumentStatus
from documents.services import document_create
from tests.ai.factories import edge_store_fixture, upload  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client, admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    return client


def test_changelist_shows_status_and_error(staff_client, user, edge_store):
    Document.objects.create(
        owner=user,
        title="Broken scan",
        file_type="pdf",
        sha256="d" * 64,
        status=DocumentStatus.FAILED,
        error="No text could be extracted.",
    )
    response = staff_client.get("/admin/documents/document/?status__exact=failed")
    assert response.status_code == 200
    assert b"Broken scan" in response.content


def test_reindex_action_and_delete_from_admin(staff_client, user, edge_store):
    document, _ = document_create(owner=user, uploaded_file=upload("a.txt", b"admin test words"))
    document.refresh_from_db()
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.FAILED)
    response = staff_client.post(
        "/admin/documents/document/",
        {"action": "reindex_documents", "_selected_action": [str(document.pk)]},
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    name = collection_name(document.embedding_model, document.embedding_dimensions)
    assert async_to_sync(edge_store.count)(name, document_id=str(document.pk)) == 1

    response = staff_client.post(
        f"/admin/documents/document/{document.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert async_to_sync(edge_store.count)(name, document_id=str(document.pk)) == 0


def test_the_file_link_downloads_the_original_for_admins_and_is_audited(
    staff_client, admin_user, user, edge_store
):
    from ops.models import AuditEvent

    document, _ = document_create(
        owner=user, uploaded_file=upload("Quarterly notes.md", b"# Notes\n\norchard lantern")
    )
    page = staff_client.get(f"/admin/documents/document/{document.pk}/change/").content.decode()
    url = f"/admin/documents/document/{document.pk}/download/"
    # The link goes through the console's view, not MEDIA_URL (which is not served).
    assert f'href="{url}"' in page and "/media/" not in page

    response = staff_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"# Notes\n\norchard lantern"
    assert response["Content-Disposition"] == 'attachment; filename="Quarterly notes.md"'
    assert response["Content-Type"].startswith("text/markdown")
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.get(action="document_downloaded")
    assert event.actor == admin_user and event.target_id == str(document.pk)
    assert event.details["owner_id"] == user.pk


def test_only_admins_download_and_a_missing_file_is_a_404(staff_client, user, edge_store):
    from django.test import Client

    from ops.models import AuditEvent

    client = Client()
    document, _ = document_create(owner=user, uploaded_file=upload("a.txt", b"private words"))
    url = f"/admin/documents/document/{document.pk}/download/"
    client.force_login(user)  # the owner, but not an admin: the console is not theirs
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.logout()
    assert client.get(url).status_code == 302

    document.file.storage.delete(document.file.name)
    assert staff_client.get(url).status_code == 404
    assert (
        staff_client.get(
            "/admin/documents/document/00000000-0000-0000-0000-000000000000/download/"
        ).status_code
        == 404
    )
    assert not AuditEvent.objects.filter(action="document_downloaded").exists()
