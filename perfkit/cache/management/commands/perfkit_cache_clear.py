from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from perfkit.cache import api


class Command(BaseCommand):
    help = "Drop every cached queryset and function result at once (a new namespace)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not api.clear():
            raise CommandError(
                "The cache could not be reached; nothing was cleared. Run the command again "
                "once the cache answers."
            )
        self.stdout.write("perfkit cache cleared.")
