from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfkit.metrics import api


class Command(BaseCommand):
    help = "Delete slow-request samples (they hold paths and user ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Default: METRICS_SAMPLES_RETENTION_DAYS. 0 deletes every sample.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days is not None and days < 0:
            raise CommandError("--older-than-days must be 0 or more.")
        self.stdout.write(f"Deleted {api.purge_samples(days)} sample(s).")
