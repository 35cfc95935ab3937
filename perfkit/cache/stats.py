"""Cache statistics: per label through core's pipeline, per request through its scope."""

from __future__ import annotations

from perfkit.recording import scope
from perfkit.recording.pipeline import record

KIND = "cache"
EVENTS = ("hits", "misses", "stores", "invalidations", "errors", "bypasses")
_LABEL_PREFIX = "cachelabel\x1f"


def count(event: str, label: str, amount: int = 1) -> None:
    """Count a cache event for ``label`` (buffered; no I/O)."""
    record(KIND, label, {event: amount})
    if scope.is_open():
        scope.add(f"cache_{event}", amount)
        scope.add(f"{_LABEL_PREFIX}{label}\x1f{event}", amount)


def totals(counters: dict[str, int]) -> dict[str, int]:
    """A scope's cache events over every label, e.g. ``{"hits": 3}``."""
    return {
        name.removeprefix("cache_"): value
        for name, value in counters.items()
        if name.startswith("cache_")
    }


def request_stats() -> dict[str, int]:
    """This request's (or task's) cache events so far, e.g. ``{"hits": 3}``."""
    return totals(scope.current())


def by_label(counters: dict[str, int]) -> dict[str, dict[str, int]]:
    """A scope's cache events per label, e.g. ``{"shop_book": {"hits": 2}}``."""
    found: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        if name.startswith(_LABEL_PREFIX):
            label, _, event = name.removeprefix(_LABEL_PREFIX).rpartition("\x1f")
            found.setdefault(label, {})[event] = value
    return dict(sorted(found.items()))


def request_stats_by_label() -> dict[str, dict[str, int]]:
    """This request's (or task's) cache events so far, per label."""
    return by_label(scope.current())
