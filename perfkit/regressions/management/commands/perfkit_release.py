"""``perfkit_release NAME [--at ISO]``: record that a release started (deploy scripts)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware

from perfkit.regressions import api


class Command(BaseCommand):
    help = "Record a release (its start defaults to now) for release comparisons and markers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Release name: a version, a commit hash")
        parser.add_argument("--at", help="When it started, ISO 8601 (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        name = str(options["name"]).strip()
        if not name or len(name) > 200:
            raise CommandError("a release name is 1 to 200 characters")
        at = None
        if options["at"]:
            at = parse_datetime(options["at"])
            if at is None:
                raise CommandError(f"--at: not an ISO 8601 date and time: {options['at']!r}")
            if is_naive(at):
                at = make_aware(at)
        release = api.record_release(name, at)
        self.stdout.write(f"release {release.name} started at {release.started_at.isoformat()}")
