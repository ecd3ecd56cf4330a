"""What the documents app holds of an organization, for deleting it (``tenants.deletion``):
its documents, their stored files and vectors. Registered from ``DocumentsConfig.ready``."""

import uuid

from asgiref.sync import async_to_sync
from django.core.files.storage import default_storage

from ai.vectorstore import get_vector_store
from documents.models import Document
from tenants.deletion import OrganizationDataPart, organization_data_part_register


def _documents_erase(organization_id: uuid.UUID, limit: int) -> int:
    documents = list(
        Document.all_organizations.filter(organization_id=organization_id).values_list(
            "pk", "file"
        )[:limit]
    )
    store = get_vector_store()
    for document_id, file_name in documents:
        # Outside the database first, raising on failure: the job retries, and a crash here
        # leaves the row to be found again - never a file or vectors nothing points at.
        async_to_sync(store.delete_document)(str(document_id))
        if file_name:
            default_storage.delete(file_name)
    Document.all_organizations.filter(pk__in=[pk for pk, _ in documents]).delete()
    return len(documents)


def register() -> None:
    organization_data_part_register(
        OrganizationDataPart(key="documents", order=20, erase=_documents_erase, batch=20)
    )
