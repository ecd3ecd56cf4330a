"""What the ai app holds of a user, for deleting that user (``accounts.deletion``).

Registered from ``AiConfig.ready``: documents (their stored files and vectors go with them,
through the ``post_delete`` cleanup), generation history, and usage records, which are kept
for accounting with the user removed (anonymised).
"""

from django.db.models import Sum

from accounts.deletion import UserDataPart, user_data_part_register
from accounts.models import User
from ai.models import Document, Generation, UsageRecord


def _documents_preview(user: User) -> dict[str, int]:
    documents = Document.objects.filter(owner=user)
    vectors = documents.aggregate(n=Sum("chunks_indexed"))["n"] or 0
    return {"documents (with their stored files)": documents.count(), "vectors": int(vectors)}


def _documents_erase(user: User, limit: int) -> int:
    ids = list(Document.objects.filter(owner=user).values_list("pk", flat=True)[:limit])
    # A queryset delete sends post_delete per document: files and vectors go on commit.
    Document.objects.filter(pk__in=ids).delete()
    return len(ids)


def _generations_preview(user: User) -> dict[str, int]:
    return {"generations (prompt history)": Generation.objects.filter(user=user).count()}


def _generations_erase(user: User, limit: int) -> int:
    ids = list(Generation.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    Generation.objects.filter(pk__in=ids).delete()
    return len(ids)


def _usage_preview(user: User) -> dict[str, int]:
    return {"usage records (anonymised)": UsageRecord.objects.filter(user=user).count()}


def _usage_anonymise(user: User, limit: int) -> int:
    ids = list(UsageRecord.objects.filter(user=user).values_list("pk", flat=True)[:limit])
    return UsageRecord.objects.filter(pk__in=ids).update(user=None)


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
    user_data_part_register(
        UserDataPart(
            key="generations", order=40, preview=_generations_preview, erase=_generations_erase
        )
    )
    user_data_part_register(
        UserDataPart(
            key="usage_records",
            order=90,
            preview=_usage_preview,
            erase=_usage_anonymise,
            kept=True,
            batch=1000,
        )
    )
