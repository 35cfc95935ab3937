from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfkit.cache import warming


class Command(BaseCommand):
    help = "Run registered cache warmers (all, or the ones named)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Warmers to run (default: all).")
        parser.add_argument("--list", action="store_true", help="List warmers and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            for name in warming.registered():
                self.stdout.write(name)
            return
        try:
            results = warming.warm(options["names"] or None)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from exc
        for result in results:
            status = "ok" if result.ok else f"FAILED: {result.error}"
            self.stdout.write(f"{result.name}: {status} ({result.seconds * 1000:.0f} ms)")
        if any(not r.ok for r in results):
            raise CommandError("Some cache warmers failed.")
