"""``manage.py create_default_admin``: make sure the first administrator exists (idempotent)."""

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import Role, User


class Command(BaseCommand):
    help = (
        "Create the default admin from DEFAULT_ADMIN_EMAIL / DEFAULT_ADMIN_PASSWORD if no such "
        "user exists. Without a password one is generated and printed once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        email = settings.DEFAULT_ADMIN_EMAIL.strip().lower()
        if User.objects.filter(email=email).exists():
            self.stdout.write(f"Default admin {email} already exists; nothing to do.")
            return
        password = settings.DEFAULT_ADMIN_PASSWORD or secrets.token_urlsafe(18)
        User.objects.create_superuser(
            email=email,
            password=password,
            username=email.split("@", 1)[0],
            full_name="Administrator",
        )
        self.stdout.write(self.style.SUCCESS(f"Created default admin {email} (role {Role.ADMIN})."))
        if not settings.DEFAULT_ADMIN_PASSWORD:
            # Shown once on the terminal, never logged: the operator must store it now.
            self.stdout.write(f"Generated password (shown only now): {password}")
