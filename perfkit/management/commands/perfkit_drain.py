from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from perfkit import api


class Command(BaseCommand):
    help = "Flush this process's counters and drain the Redis recorder into the rollup tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--include-current",
            action="store_true",
            help="Also drain the minute still being written.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        api.flush()
        drained = api.drain(include_current=options["include_current"])
        self.stdout.write(f"Drained {drained} batch(es).")
