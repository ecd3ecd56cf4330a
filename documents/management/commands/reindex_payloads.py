"""``manage.py reindex_payloads``: write each document's organization, owner and visibility into
the payload of its vectors (points indexed before organizations existed carry only the owner,
so no search finds them until this has run); idempotent, no embedding call."""

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError

from ai.vectorstore import VectorStoreError, collection_name, get_vector_store
from core.tenancy import platform_scope
from documents.models import Document
from documents.services import document_payload_sync


class Command(BaseCommand):
    help = (
        "Set organization_id, owner_id and visibility on the vectors of every document "
        "(after upgrading to organizations); creates the new payload indexes too."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--document", action="append", help="Only this document (repeatable).")

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_vector_store()
        # An operator's command over every organization's documents.
        with platform_scope():
            documents = Document.objects.exclude(embedding_dimensions=0).order_by("created_at")
            if options["document"]:
                documents = documents.filter(pk__in=options["document"])
            collections = {
                (model, dimensions)
                for model, dimensions in documents.values_list(
                    "embedding_model", "embedding_dimensions"
                ).distinct()
            }
            try:
                for model, dimensions in collections:
                    # Adds the organization_id (tenant) and visibility indexes where missing.
                    async_to_sync(store.ensure_collection)(
                        collection_name(model, dimensions), dimensions=dimensions
                    )
                done = 0
                for document_id in documents.values_list("pk", flat=True).iterator():
                    document_payload_sync(document_id=document_id)
                    done += 1
            except VectorStoreError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"Updated the vector payload of {done} document(s).")
