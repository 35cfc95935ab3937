from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from perfkit import api


class Command(BaseCommand):
    help = "Delete rollups older than their resolution's retention setting."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in api.prune().items():
            self.stdout.write(f"Deleted {count} {name} row(s).")
