"""``demo_release NAME [--slow | --fixed]``: a deploy of the demo, good or bad."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from demo_project.shop import bad_deploy
from perfkit.regressions import api


class Command(BaseCommand):
    help = (
        "Record release NAME as started now (as a deploy script runs perfkit_release); "
        "--slow makes the fixed book list (/books/fast/) an N+1 again, --fixed restores it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="The release's name, e.g. demo-2.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--slow",
            action="store_true",
            help="Serve /books/fast/ as the N+1 version (a bad deploy).",
        )
        mode.add_argument("--fixed", action="store_true", help="Serve the fixed version again.")
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Deploy now instead of at the start of the next minute.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = str(options["name"]).strip()
        if not name or len(name) > 200:
            raise CommandError("a release name is 1 to 200 characters")
        if not options["no_wait"]:
            # Rollups are per minute and the minute a release starts in counts for it:
            # deploying on the minute keeps the old code's requests out of the new
            # release's figures (an N+1 from before a fix would hold its mean up).
            wait = 60 - time.time() % 60
            self.stdout.write(f"waiting {wait:.0f} s for the next minute to deploy on it")
            time.sleep(wait)
        # The flag first: the new release's first minute should already be slow.
        if options["slow"] or options["fixed"]:
            bad_deploy.set_active(bool(options["slow"]), name)
        release = api.record_release(name)
        state = "the N+1 version (bad deploy)" if bad_deploy.active() else "fixed"
        self.stdout.write(
            f"release {release.name} started at {release.started_at.isoformat()}; "
            f"/books/fast/ is {state}"
        )
