from __future__ import annotations

import random
import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from demo_project.shop.traffic import Sample, Traffic, wait_for_server


class Command(BaseCommand):
    help = "Send a steady stream of GETs to the demo shop's endpoints until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--requests", type=int, help="Stop after this many requests.")
        parser.add_argument("--duration", type=float, help="Stop after this many seconds.")
        parser.add_argument("--concurrency", type=int, default=2, help="Threads (default 2).")
        parser.add_argument(
            "--delay", type=float, default=0.05, help="Pause per thread between requests."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument(
            "--wait", type=float, default=60.0, help="Seconds to wait for the server (60)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        base_url = options["base_url"].rstrip("/")
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if not stop.is_set():
                self.stdout.write(f"{signal.Signals(signum).name}: stopping...")
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run(base_url, stop, options)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, base_url: str, stop: threading.Event, options: dict[str, Any]) -> None:
        self.stdout.write(f"Waiting for {base_url} ...")
        if not wait_for_server(base_url, stop, timeout=options["wait"]):
            if stop.is_set():
                return
            raise CommandError(f"{base_url} did not answer within {options['wait']:g}s.")
        sample = Sample.from_db(random.Random(options["seed"]))
        traffic = Traffic(
            base_url=base_url,
            sample=sample,
            concurrency=options["concurrency"],
            delay=max(0.0, options["delay"]),
            requests=options["requests"],
            duration=options["duration"],
            seed=options["seed"],
            stop=stop,
        )
        limits = [
            f"{options['requests']} requests" if options["requests"] is not None else "",
            f"{options['duration']:g}s" if options["duration"] is not None else "",
        ]
        until = " or ".join(filter(None, limits)) or "Ctrl-C"
        self.stdout.write(
            f"Sending traffic to {base_url} with {traffic.concurrency} threads until {until}; "
            f"{len(sample.book_ids)} books, {len(sample.cities)} cities, "
            f"{len(sample.emails)} emails sampled."
        )
        stats = traffic.run(self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"Done: {stats.summary().strip()}"))
