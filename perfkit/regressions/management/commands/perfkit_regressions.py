"""``perfkit_regressions``: run regression detection now, then send its alerts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from perfkit.conf import perfkit_settings
from perfkit.regressions import api
from perfkit.regressions.models import Regression


class Command(BaseCommand):
    help = "Compare each endpoint's recent window with its baseline; send pending alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-alerts", action="store_true", help="Detect only; leave alerts to the worker"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = api.detect()
        base = result.baseline
        self.stdout.write(
            f"{result.endpoints} endpoints with enough traffic, "
            f"recent since {base.recent_since:%Y-%m-%d %H:%M} against {base.kind} baseline "
            f"{base.since:%Y-%m-%d %H:%M} - "
            f"{base.until:%Y-%m-%d %H:%M}: {len(result.opened)} opened, "
            f"{len(result.resolved)} resolved, {len(result.still_open)} still open"
        )
        opened = Regression.objects.using(perfkit_settings.DATABASE_ALIAS)
        for regression in opened.filter(pk__in=result.opened):
            self.stdout.write(f"  new: {regression}")
        if options["no_alerts"]:
            return
        sent = api.deliver_alerts()
        for problem in sent.problems:
            self.stderr.write(f"REGRESSIONS_ALERTS: {problem}")
        self.stdout.write(
            f"alerts: {sent.sent} sent, {sent.failed} failed deliveries, {sent.deferred} deferred"
        )
