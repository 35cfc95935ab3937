"""Cache statistics: per label through core's pipeline, per request through its scope."""

from __future__ import annotations

from perfkit.recording import scope
from perfkit.recording.pipeline import record

KIND = "cache"
EVENTS = ("hits", "misses", "stores", "invalidations", "errors", "bypasses")


def count(event: str, label: str, amount: int = 1) -> None:
    """Count a cache event for ``label`` (buffered; no I/O)."""
    record(KIND, label, {event: amount})
    scope.add(f"cache_{event}", amount)


def request_stats() -> dict[str, int]:
    """This request's (or task's) cache events so far, e.g. ``{"hits": 3}``."""
    return {
        name.removeprefix("cache_"): value
        for name, value in scope.current().items()
        if name.startswith("cache_")
    }
