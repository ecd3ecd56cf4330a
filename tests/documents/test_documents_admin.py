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
