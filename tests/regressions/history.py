"""Generated endpoint history, written at past times through perfkit's own recorder."""

from __future__ import annotations

from datetime import datetime, timedelta

from perfkit import api
from perfkit.recording.buffer import Buffer
from perfkit.recording.pipeline import pipeline

ENDPOINT = "GET shop/books/"


def write(
    start: datetime,
    minutes: int,
    *,
    per_minute: int = 5,
    ms: float = 50.0,
    queries: int = 3,
    endpoint: str = ENDPOINT,
    n_plus_one: bool = False,
    errors: int = 0,
) -> None:
    """``per_minute`` requests a minute from ``start`` on, durations spread ±20% around ``ms``.

    Written through the configured recorder (the database, or Redis then drained).
    """
    buffer = Buffer()
    for minute in range(minutes):
        at = (start + timedelta(minutes=minute)).timestamp()
        for i in range(per_minute):
            duration_us = ms * 1000 * (0.8 + 0.4 * i / max(per_minute - 1, 1))
            failed = int(minute * per_minute + i < errors)
            buffer.add(
                "endpoint",
                endpoint,
                {
                    "count": 1,
                    "errors": failed,
                    "queries": queries,
                    "n1": int(n_plus_one),
                    "detailed": 1,
                    "dur_us": int(duration_us),
                },
                {"dur_us": int(duration_us), "queries": queries},
                duration_us,
                at=at,
            )
    pipeline.recorder.write(buffer.take())
    api.drain(include_current=True)
