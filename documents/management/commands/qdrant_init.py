"""``manage.py qdrant_init``: create the collections and payload indexes (idempotent)."""

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError

from ai.vectorstore import VectorStoreError, collection_name, get_vector_store
from documents import embedding
from documents.models import Document


class Command(BaseCommand):
    help = (
        "Create the Qdrant collection of the configured embedding model (and of every model "
        "documents were indexed with) with its payload indexes. Safe to run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--model", help="Embedding model name (default: ask the configured provider)."
        )
        parser.add_argument("--dimensions", type=int, help="Vector size for --model.")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted: set[tuple[str, int]] = set(
            Document.objects.exclude(embedding_dimensions=0)
            .values_list("embedding_model", "embedding_dimensions")
            .distinct()
        )
        if options["model"] and options["dimensions"]:
            wanted.add((options["model"], int(options["dimensions"])))
        else:
            wanted.add(self._current_model())
        store = get_vector_store()
        try:
            for model, dimensions in sorted(wanted):
                name = collection_name(model, dimensions)
                async_to_sync(store.ensure_collection)(name, dimensions=dimensions)
                self.stdout.write(f"{name}: ready ({model}, {dimensions} dimensions)")
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _current_model() -> tuple[str, int]:
        # One probe embedding tells the model's real name and size (deployments and the
        # `dimensions` option make both configuration-dependent). Not metered: no user.
        result, _ = async_to_sync(embedding._embed)(["dimension probe"])
        return result.model, result.dimensions
