"""``manage.py chat_recover``: close answers whose generating worker died (see chat.recovery)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chat.recovery import chat_messages_recover_orphans, orphan_threshold_seconds


class Command(BaseCommand):
    help = (
        "Close pending/streaming answers whose generation is gone (no heartbeat), or that had no "
        "checkpoint for too long, as incomplete; charge what they produced, release the rest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            help="seconds without a checkpoint after which an answer is closed even with a "
            f"heartbeat (default {orphan_threshold_seconds():.0f})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        recovered = chat_messages_recover_orphans(older_than_seconds=options["older_than"])
        self.stdout.write(f"Recovered {len(recovered)} orphaned message(s).")
