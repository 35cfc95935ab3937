from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from demo_project.shop import seeding
from demo_project.shop.models import Book


class Command(BaseCommand):
    help = "Fill the demo shop with deterministic fake data (about 50k rows at --scale 1)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Multiply every row count (default 1)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--if-empty", action="store_true", help="Do nothing when books already exist."
        )
        mode.add_argument("--clear", action="store_true", help="Delete existing shop data first.")

    def handle(self, *args: Any, **options: Any) -> None:
        scale: float = options["scale"]
        if scale <= 0:
            raise CommandError("--scale must be positive.")
        if options["if_empty"] and Book.objects.exists():
            self.stdout.write(
                f"Shop already has {Book.objects.count()} books; not seeding (--if-empty)."
            )
            return
        started = time.perf_counter()
        if options["clear"]:
            deleted = seeding.clear()
            self.stdout.write(
                f"Cleared {sum(deleted.values())} rows in {time.perf_counter() - started:.2f}s"
            )
        counts = seeding.Counts().scaled(scale)
        started = time.perf_counter()
        self.stdout.write(f"Seeding the demo shop (scale {scale:g}, seed {options['seed']})")
        created = seeding.seed(counts, seed=options["seed"], report=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {sum(created.values())} rows in {time.perf_counter() - started:.2f}s"
            )
        )
