from __future__ import annotations

import shutil
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from perfkit.conf import perfkit_settings
from perfkit.metrics import top
from perfkit.recording.query import DEFAULT_WINDOW, WINDOWS, Window

# Cursor home, then erase the screen: the next table replaces the last one.
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Command(BaseCommand):
    help = (
        "The slowest endpoints, refreshed like top(1): the admin's Slow endpoints list "
        "in the terminal. Reads what every process recorded into perfkit's rollups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--window",
            choices=list(WINDOWS),
            default=DEFAULT_WINDOW,
            help=f"Time window (default: {DEFAULT_WINDOW}, as in the admin).",
        )
        parser.add_argument(
            "--sort",
            choices=list(top.SORTS),
            default=top.DEFAULT_SORT,
            help=f"Worst first by this figure (default: {top.DEFAULT_SORT}).",
        )
        parser.add_argument("--limit", type=int, default=20, help="Endpoints shown (default: 20).")
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="Seconds between refreshes (default: 2).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Print the table once and exit (scripts)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        limit: int = options["limit"]
        interval: float = options["interval"]
        if limit < 1:
            raise CommandError(f"--limit must be 1 or more (got {limit}).")
        if not interval > 0:  # also refuses nan
            raise CommandError(f"--interval must be a number of seconds above 0 (got {interval}).")
        window = WINDOWS[options["window"]]
        sort: str = options["sort"]
        if options["once"]:
            try:
                frame = self._frame(window, sort, limit, width=None)
            except DatabaseError as exc:
                raise CommandError(f"cannot read perfkit's rollups: {exc}") from exc
            self.stdout.write(frame)
            return
        try:
            self._loop(window, sort, limit, interval)
        except KeyboardInterrupt:
            self.stdout.write("")  # leave the prompt on a line of its own

    def _loop(self, window: Window, sort: str, limit: int, interval: float) -> None:
        tty = self.stdout.isatty()
        first = True
        while True:
            width = shutil.get_terminal_size().columns if tty else None
            try:
                frame = self._frame(window, sort, limit, width=width)
            except DatabaseError as exc:
                # A live view outlives a database restart: say so and retry.
                frame = f"perfkit top — cannot read perfkit's rollups: {exc}"
            finally:
                self._release_connection()
            if tty:
                self.stdout.write(CLEAR_SCREEN + frame)
            else:
                self.stdout.write(frame if first else f"\n{frame}")
            self.stdout.flush()
            first = False
            time.sleep(interval)

    def _frame(self, window: Window, sort: str, limit: int, *, width: int | None) -> str:
        found = top.top_rows(window, sort, limit)
        return top.render(found, width=width, needs_drain=top.recorder_needs_drain())

    def _release_connection(self) -> None:
        """Between reads, close the connection as a request boundary would."""
        connection = connections[perfkit_settings.DATABASE_ALIAS]
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
