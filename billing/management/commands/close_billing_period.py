"""Close every billing period that has ended (and end past-due grace): what the periodic
task runs, for operators and cron. Safe to run any number of times."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from billing.services.periods import billing_periods_close, subscriptions_past_due_sweep
from core.tenancy import platform_scope


class Command(BaseCommand):
    help = "Close ended billing periods (overage, renewals, scheduled changes); idempotent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--now",
            help="Close as of this ISO 8601 time instead of now (UTC when no offset).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options.get("now"):
            now = parse_datetime(options["now"])
            if now is None:
                raise CommandError("--now must be an ISO 8601 date and time.")
            if now.tzinfo is None:
                now = now.replace(tzinfo=dt.UTC)
        with platform_scope():
            issued = billing_periods_close(now=now)
            ended = subscriptions_past_due_sweep(now=now)
        self.stdout.write(f"Invoices issued: {issued}; past-due subscriptions ended: {ended}")
