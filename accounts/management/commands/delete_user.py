"""``manage.py delete_user EMAIL [--yes]``: the preview, then the deletion job, run here.

The same service as the console's Delete page and ``POST /api/v1/users/{id}/deletion``: the
account is deactivated at once, then its data is erased part by part (usage records are kept,
anonymised). Without ``--yes`` only the preview is printed. In embedded mode, run it while the
server is stopped (the embedded vector store belongs to one process) or set ``QDRANT_URL``;
a vector that cannot be removed is logged and never shown (search re-checks the database).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.deletion import user_deletion_preview, user_deletion_request, user_deletion_run
from accounts.models import User, UserDeletionStatus
from config.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Delete a user and their data (chats, documents, vectors, keys); usage records are "
        "kept, anonymised."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email", help="The user's email address.")
        parser.add_argument("--yes", action="store_true", help="Delete (else: preview only).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f"No user with the email address {options['email']!r}.")
        preview = user_deletion_preview(user=user)
        self.stdout.write(f"Deleting {user.email} removes:")
        for label, count in preview.removed.items():
            self.stdout.write(f"  {label}: {count}")
        self.stdout.write("and keeps:")
        for label, count in preview.kept.items():
            self.stdout.write(f"  {label}: {count}")
        if not options["yes"]:
            self.stdout.write("Nothing deleted: run again with --yes.")
            return
        try:
            # Not dispatched: this command runs the job itself and reports the outcome.
            job = user_deletion_request(actor=None, user=user, dispatch=False)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        job.refresh_from_db()
        if job.status in (UserDeletionStatus.PENDING, UserDeletionStatus.RUNNING):
            try:
                user_deletion_run(job_id=job.pk)
            except Exception as exc:  # recorded on the job; resumed by the maintenance
                raise CommandError(f"Deletion job #{job.pk} stopped: {exc}") from exc
            job.refresh_from_db()
        self.stdout.write(f"Deletion job #{job.pk}: {job.status} ({job.removed}).")
        if job.status == UserDeletionStatus.FAILED:
            raise CommandError(job.error)
