from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldError, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfkit.exports.columns import resolve_columns
from perfkit.exports.engine import write_export
from perfkit.exports.writers import WRITERS


class Command(BaseCommand):
    help = "Export a model's rows to a file in the foreground, with the background engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="app_label.ModelName, e.g. shop.OrderLine")
        parser.add_argument("output", help="File to write")
        parser.add_argument("--fields", required=True, help="Comma-separated fields (a__b ok)")
        parser.add_argument("--format", default="csv", choices=sorted(WRITERS))
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="LOOKUP=VALUE",
            help="A queryset filter; repeat for several (e.g. --filter status=paid)",
        )
        parser.add_argument("--order-by", default="pk", help="Ordering (default: pk)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = apps.get_model(options["model"])
        except (LookupError, ValueError) as exc:
            raise CommandError(
                f"Unknown model {options['model']!r}: use app_label.ModelName."
            ) from exc
        filters = {}
        for item in options["filter"]:
            lookup, sep, value = item.partition("=")
            if not sep or not lookup:
                raise CommandError(f"Bad --filter {item!r}: use LOOKUP=VALUE.")
            filters[lookup] = value
        fields = [f.strip() for f in options["fields"].split(",") if f.strip()]
        try:
            columns = resolve_columns(model, fields)
            queryset = model._default_manager.filter(**filters).order_by(options["order_by"])
            total = queryset.count()
        except (ValueError, FieldError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        output = Path(options["output"])
        started = time.monotonic()

        def progress(done: int) -> None:
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r[{bar}] {done}/{total} rows")
            sys.stderr.flush()

        rows = write_export(queryset, columns, options["format"], output, progress)
        if total:
            progress(rows)
            sys.stderr.write("\n")
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Wrote {rows} rows to {output} ({output.stat().st_size} bytes) in {seconds:.1f}s."
        )
