"""``manage.py ingest PATH... --user EMAIL``: load files from the terminal with a progress bar;
``manage.py ingest --resume``: finish documents a crash left half-processed."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ai.vectorstore import VectorStoreError, get_vector_store, selected_backend
from config.exceptions import ApplicationError
from documents.models import Document, DocumentStatus
from documents.pipeline import document_ingest, documents_stalled
from documents.services import document_create


class Command(BaseCommand):
    help = "Upload and index files for a user, or resume interrupted ingestions (--resume)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="*", help="PDF, text or Markdown files.")
        parser.add_argument("--user", help="Email of the owner of the new documents.")
        parser.add_argument("--title", help="Title (single file only; default: file name).")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Process documents left pending/processing by a crash, from their last batch.",
        )
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            help="With --resume: only documents untouched for this many seconds (default: 0 "
            "with the embedded store, which no server can be using while this runs; else "
            "INGEST_STALL_SECONDS, so documents with a live worker's heartbeat are left alone).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            get_vector_store().health()
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc
        if options["resume"]:
            self._resume(options["older_than"])
            return
        if not options["paths"]:
            raise CommandError("Give one or more files, or --resume.")
        if not options["user"]:
            raise CommandError("--user EMAIL is required to upload files.")
        if options["title"] and len(options["paths"]) > 1:
            raise CommandError("--title works with a single file only.")
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['user']}.")
        failures = 0
        for raw in options["paths"]:
            path = Path(raw)
            if not path.is_file():
                self.stderr.write(f"{path}: not a file")
                failures += 1
                continue
            if path.stat().st_size > settings.DOCUMENT_MAX_UPLOAD_BYTES:
                self.stderr.write(f"{path}: larger than DOCUMENT_MAX_UPLOAD_BYTES")
                failures += 1
                continue
            upload = SimpleUploadedFile(path.name, path.read_bytes())
            try:
                document, created = self._create(user, upload, options["title"] or "")
            except ApplicationError as exc:
                self.stderr.write(f"{path}: {exc.message}")
                failures += 1
                continue
            if not created and document.status == DocumentStatus.READY:
                self.stdout.write(f"{path}: already uploaded as {document.pk}")
                continue
            document = self._run(document)
            if document.status != DocumentStatus.READY:
                failures += 1
        if failures:
            raise CommandError(f"{failures} file(s) were not ingested.")

    def _create(self, user: Any, upload: SimpleUploadedFile, title: str) -> tuple[Document, bool]:
        # No task: this command runs the pipeline itself, with a progress bar.
        return document_create(owner=user, uploaded_file=upload, title=title, dispatch=False)

    def _run(self, document: Document) -> Document:
        bar = tqdm(total=1, desc=document.title[:40], unit="step", file=self.stdout._out)

        def progress(stage: str, done: int, total: int) -> None:
            bar.set_postfix_str(stage)
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

        # Takes over a document left processing: --resume chose it as stalled.
        collection = document_ingest(document_id=document.pk, progress=progress, takeover=True)
        bar.close()
        if collection:
            # A terminal command is not a request: optimise inline, right after the bulk load.
            get_vector_store().optimize(collection)
        document.refresh_from_db()
        if document.status == DocumentStatus.READY:
            self.stdout.write(
                f"{document.title}: ready, {document.pages} page(s), {document.chunks} chunks "
                f"({document.pk})"
            )
        else:
            self.stderr.write(f"{document.title}: {document.status}: {document.error}")
        return document

    def _resume(self, older_than: int | None) -> None:
        if older_than is None and selected_backend() == "edge":
            older_than = 0
        ids = documents_stalled(older_than_seconds=older_than)
        if not ids:
            self.stdout.write("Nothing to resume.")
            return
        for document in Document.objects.filter(pk__in=ids).order_by("created_at"):
            self.stdout.write(
                f"Resuming {document.pk} at chunk {document.chunks_indexed}/{document.chunks}"
            )
            self._run(document)
