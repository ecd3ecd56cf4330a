"""``manage.py reindex --document ID | --all``: run the pipeline again."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ai.vectorstore import get_vector_store
from config.exceptions import ApplicationError
from core.actor import actor_for_system
from core.tenancy import platform_scope
from documents.models import Document, DocumentStatus
from documents.pipeline import document_ingest
from documents.services import document_reindex


class Command(BaseCommand):
    help = "Re-extract, re-chunk and re-embed documents (e.g. after changing the embedding model)."

    def add_arguments(self, parser: Any) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--document", action="append", help="Document id (repeatable).")
        target.add_argument("--all", action="store_true", help="Every document.")
        parser.add_argument(
            "--failed", action="store_true", help="With --all: only documents that failed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # An operator's command over every organization's documents.
        with platform_scope():
            self._reindex(options)

    def _reindex(self, options: dict[str, Any]) -> None:
        documents = Document.objects.order_by("created_at")
        if options["document"]:
            documents = documents.filter(pk__in=options["document"])
            missing = set(options["document"]) - {
                str(pk) for pk in documents.values_list("pk", flat=True)
            }
            if missing:
                raise CommandError(f"No such document: {', '.join(sorted(missing))}")
        elif options["failed"]:
            documents = documents.filter(status=DocumentStatus.FAILED)
        collections: set[str] = set()
        done = failed = 0
        for document in documents.iterator():
            try:
                # Not queued: this command runs the pipeline itself and reports the outcome.
                document_reindex(
                    document=document, actor=actor_for_system(), force=True, dispatch=False
                )
            except ApplicationError as exc:
                raise CommandError(str(exc)) from exc
            collection = document_ingest(document_id=document.pk)
            if collection:
                collections.add(collection)
            document.refresh_from_db()
            if document.status == DocumentStatus.READY:
                done += 1
                self.stdout.write(f"{document.pk} ready ({document.chunks} chunks)")
            else:
                failed += 1
                self.stdout.write(f"{document.pk} {document.status}: {document.error}")
        for collection in collections:
            # A terminal command is not a request: optimise inline, after the bulk load.
            get_vector_store().optimize(collection)
        self.stdout.write(f"Reindexed {done} document(s), {failed} failed.")
