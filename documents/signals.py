"""Receivers of the documents app, connected in ``DocumentsConfig.ready``.

They live beside the services (not in ``models.py``) so the models import no service: the
API, the admin and a deleted user's cascade all end in the same cleanup.
"""

from django.db import transaction
from django.db.models.signals import post_delete

from documents.models import Document
from documents.services import document_cleanup


def _document_post_delete(sender: type[Document], instance: Document, **kwargs: object) -> None:
    # The file and the vectors go once the deletion is committed (never for a rolled-back delete).
    document_id, file_name = str(instance.pk), instance.file.name or ""
    transaction.on_commit(lambda: document_cleanup(document_id=document_id, file_name=file_name))


def connect() -> None:
    post_delete.connect(
        _document_post_delete, sender=Document, dispatch_uid="documents.document_post_delete"
    )
