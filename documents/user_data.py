"""What the documents app holds of a user, for deleting that user (``accounts.deletion``):
their documents, whose stored files and vectors go with them through the ``post_delete``
cleanup (``documents.signals``). Registered from ``DocumentsConfig.ready``."""

from django.db.models import Sum

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from documents.models import Document


def _documents_preview(user: User) -> dict[str, int]:
    documents = Document.objects.filter(owner=user)
    vectors = documents.aggregate(n=Sum("chunks_indexed"))["n"] or 0
    return {"documents (with their stored files)": documents.count(), "vectors": int(vectors)}


def _documents_erase(user: User, limit: int) -> int:
    ids = list(Document.objects.filter(owner=user).values_list("pk", flat=True)[:limit])
    # A queryset delete sends post_delete per document: files and vectors go on commit.
    Document.objects.filter(pk__in=ids).delete()
    return len(ids)


def register() -> None:
    user_data_part_register(
        UserDataPart(
            key="documents",
            order=30,
            preview=_documents_preview,
            erase=_documents_erase,
            batch=20,  # each one also removes a file and its vectors
        )
    )
