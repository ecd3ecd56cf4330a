"""``manage.py create_organization``: seed 004's tenant script - an organization and its owner."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from config.exceptions import ApplicationError
from core.actor import actor_for_system
from core.tenancy import platform_scope
from tenants.services import organization_create


class Command(BaseCommand):
    help = (
        "Create an organization owned by an existing user (by email). Prints its id and slug, "
        "which clients send as X-Tenant-ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The organization's name.")
        parser.add_argument("--owner", required=True, help="Email of the owner (must exist).")
        parser.add_argument("--slug", help="URL-safe short name (default: from the name).")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = User.objects.filter(email__iexact=options["owner"].strip()).first()
        if owner is None:
            raise CommandError(f"No user with the email {options['owner']!r}.")
        try:
            with platform_scope():
                organization = organization_create(
                    actor=actor_for_system(),
                    name=options["name"],
                    owner=owner,
                    slug=options.get("slug") or None,
                )
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.details or ''}".strip()) from exc
        self.stdout.write(
            f"Created organization {organization.name!r}: id {organization.pk}, "
            f"slug {organization.slug}, owner {owner.email}."
        )
