"""``manage.py addstatictoken`` is not available: backup codes are stored hashed.

django-otp's command writes a code in clear into the static-token table, which this product
only ever compares against a keyed hash (accounts.mfa.backup_code_hash): the code it printed
would be refused at login. It is replaced by this explanation.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Not available: backup codes are stored hashed (see the message for what to do)."

    def add_arguments(self, parser: Any) -> None:
        # Accept django-otp's arguments so old scripts get this message, not a usage error.
        parser.add_argument("username", nargs="?")
        parser.add_argument("-t", "--token", required=False)

    def handle(self, *args: Any, **options: Any) -> None:
        raise CommandError(
            "addstatictoken is disabled: this product stores backup codes hashed, so a code "
            "written by django-otp's command would be refused at login. To let a user in who "
            "lost their authenticator, reset their MFA in the console (Users, action 'Reset "
            "MFA of selected users', audited); they then log in with the password and enrol "
            "again. Users with "
            "MFA make new backup codes themselves (chat page settings, or POST "
            "/api/v1/auth/mfa/backup-codes)."
        )
