"""``manage.py delete_organization <slug|id>``: close an organization and erase it now (the
same resumable job as the API's deletion, run here with its figures printed)."""

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.exceptions import ApplicationError
from core.actor import actor_for_system
from core.tenancy import platform_scope
from tenants.deletion import organization_delete_request, organization_deletion_run
from tenants.models import Organization, OrganizationDeletionStatus


def _find(key: str) -> Organization | None:
    try:
        return Organization.objects.filter(pk=uuid.UUID(key)).first()
    except ValueError:
        return Organization.objects.filter(slug=key.lower()).first()


class Command(BaseCommand):
    help = (
        "Delete an organization: its chats, documents (files and vectors), API keys, "
        "invitations and memberships, then the organization. Usage records and audit events "
        "are kept. Resumes an interrupted deletion of the same organization."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="The organization's id or slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        # An operator's command: it reads the organization's rows across the tenancy scope.
        with platform_scope():
            organization = _find(options["organization"].strip())
            if organization is None:
                raise CommandError(f"No organization {options['organization']!r}.")
            try:
                job = organization_delete_request(
                    actor=actor_for_system(), organization=organization, dispatch=False
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            finished = organization_deletion_run(job_id=job.pk)
            if finished is None:
                raise CommandError(
                    f"Deletion job {job.pk} is running on a worker; it will finish there."
                )
        if finished.status != OrganizationDeletionStatus.DONE:
            raise CommandError(f"Deletion job {job.pk} stopped: {finished.error}")
        removed = ", ".join(f"{key} {count}" for key, count in finished.removed.items())
        self.stdout.write(
            f"Deleted {finished.organization_label} (job {job.pk}): {removed or 'nothing'}."
        )
