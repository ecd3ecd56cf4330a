"""``manage.py create_default_admin``: make sure the first administrator exists (idempotent)."""

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role, User


def _free_username(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... when a user already has it."""
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


class Command(BaseCommand):
    help = (
        "Create the default admin from DEFAULT_ADMIN_EMAIL / DEFAULT_ADMIN_PASSWORD if no such "
        "user exists. Without a password one is generated and printed once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        email = settings.DEFAULT_ADMIN_EMAIL.strip().lower()
        if not email or "@" not in email:
            raise CommandError("DEFAULT_ADMIN_EMAIL must be an email address.")
        if User.objects.filter(email__iexact=email).exists():
            self.stdout.write(f"Default admin {email} already exists; nothing to do.")
            return
        password = settings.DEFAULT_ADMIN_PASSWORD or secrets.token_urlsafe(18)
        candidate = User(email=email, username=email.split("@", 1)[0], full_name="Administrator")
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            # The first admin guards the whole installation: a weak password is refused.
            raise CommandError(
                "DEFAULT_ADMIN_PASSWORD fails the password policy: " + " ".join(exc.messages)
            ) from exc
        with transaction.atomic():
            User.objects.create_superuser(
                email=email,
                password=password,
                username=_free_username(email.split("@", 1)[0]),
                full_name="Administrator",
            )
        self.stdout.write(self.style.SUCCESS(f"Created default admin {email} (role {Role.ADMIN})."))
        if not settings.DEFAULT_ADMIN_PASSWORD:
            # Shown once on the terminal, never logged: the operator must store it now.
            self.stdout.write(f"Generated password (shown only now): {password}")
