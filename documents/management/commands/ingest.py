"""``manage.py ingest PATH... --user EMAIL [--organization SLUG|ID] [--shared]``: load files, or
every PDF/text/Markdown file of a folder (recursively), from the terminal with a progress bar
per file and a summary, into one organization of the user (default: their default one), under
its caps; ``manage.py ingest --resume``: finish documents a crash left half-processed."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import User
from ai.vectorstore import VectorStoreError, get_vector_store, selected_backend
from config.exceptions import ApplicationError
from core.actor import actor_for_system
from core.tenancy import organization_scope, platform_scope
from documents.models import Document, DocumentStatus, DocumentVisibility
from documents.pipeline import document_ingest, documents_stalled
from documents.services import document_create
from tenants.resolution import membership_resolve

# What a folder contributes (other files in it are skipped silently: a folder of reports often
# holds spreadsheets and images too); a file named explicitly is always tried.
FOLDER_SUFFIXES = {".pdf", ".txt", ".md", ".markdown"}
# One command run handles at most this many files (a typo'd "/" must not walk the disk).
MAX_FILES = 10_000


def expand_paths(raw_paths: list[str]) -> tuple[list[Path], list[Path]]:
    """Files to ingest (folders walked recursively, hidden entries skipped, sorted) and the
    paths that exist as neither file nor folder."""
    files: list[Path] = []
    missing: list[Path] = []
    for raw in raw_paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in FOLDER_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
        if len(files) > MAX_FILES:
            raise CommandError(f"More than {MAX_FILES} files; ingest fewer folders at a time.")
    return list(dict.fromkeys(files)), missing


class Command(BaseCommand):
    help = "Upload and index files for a user, or resume interrupted ingestions (--resume)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "paths",
            nargs="*",
            help="PDF, text or Markdown files, or folders (searched recursively for them).",
        )
        parser.add_argument("--user", help="Email of the owner of the new documents.")
        parser.add_argument("--title", help="Title (single file only; default: file name).")
        parser.add_argument(
            "--organization",
            help="Organization (id or slug) the user is a member of (default: their default).",
        )
        parser.add_argument(
            "--shared",
            action="store_true",
            help="Share the documents with the organization (default: private to the user).",
        )
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
            # An operator's command over every organization's interrupted work.
            with platform_scope():
                self._resume(options["older_than"])
            return
        self._upload(options)

    def _upload(self, options: dict[str, Any]) -> None:
        if not options["paths"]:
            raise CommandError("Give one or more files, or --resume.")
        if not options["user"]:
            raise CommandError("--user EMAIL is required to upload files.")
        files, missing = expand_paths(options["paths"])
        if options["title"] and len(files) > 1:
            raise CommandError("--title works with a single file only.")
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['user']}.")
        try:
            membership = membership_resolve(
                user=user, tenant=options["organization"] or None, organization_id=None
            )
        except ApplicationError as exc:
            raise CommandError(
                f"{options['user']} is not an active member of that organization ({exc.message})"
            ) from exc
        self._organization = membership.organization
        self._visibility = (
            DocumentVisibility.SHARED if options["shared"] else DocumentVisibility.PRIVATE
        )
        with organization_scope(membership.organization_id):
            self._upload_files(files, missing, user, options)

    def _upload_files(
        self, files: list[Path], missing: list[Path], user: Any, options: dict[str, Any]
    ) -> None:
        counts = {"ready": 0, "already": 0, "failed": 0}
        for path in missing:
            self.stderr.write(f"{path}: no such file or folder")
            counts["failed"] += 1
        total = len(files)
        for index, path in enumerate(files, start=1):
            counts[self._ingest_one(path, user, options["title"] or "", f"[{index}/{total}]")] += 1
        self.stdout.write(
            f"Summary: {total + len(missing)} file(s): {counts['ready']} ingested, "
            f"{counts['already']} already uploaded, {counts['failed']} failed."
        )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} file(s) were not ingested.")

    def _ingest_one(self, path: Path, user: Any, title: str, position: str) -> str:
        """One file: ``ready``, ``already`` (same bytes uploaded before) or ``failed``."""
        if path.stat().st_size > settings.DOCUMENT_MAX_UPLOAD_BYTES:
            self.stderr.write(f"{position} {path}: larger than DOCUMENT_MAX_UPLOAD_BYTES")
            return "failed"
        upload = SimpleUploadedFile(path.name, path.read_bytes())
        try:
            document, created = self._create(user, upload, title)
        except ApplicationError as exc:
            self.stderr.write(f"{position} {path}: {exc.message}")
            return "failed"
        if not created and document.status == DocumentStatus.READY:
            self.stdout.write(f"{position} {path}: already uploaded as {document.pk}")
            return "already"
        document = self._run(document, label=f"{position} {path.name}")
        return "ready" if document.status == DocumentStatus.READY else "failed"

    def _create(self, user: User, upload: SimpleUploadedFile, title: str) -> tuple[Document, bool]:
        # No task: this command runs the pipeline itself, with a progress bar.
        return document_create(
            actor=actor_for_system(user, organization=self._organization),
            uploaded_file=upload,
            title=title,
            visibility=self._visibility,
            dispatch=False,
        )

    def _run(self, document: Document, label: str = "") -> Document:
        desc = (label or document.title)[:60]
        bar = tqdm(total=1, desc=desc, unit="step", file=self.stdout._out)

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
