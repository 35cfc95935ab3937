"""Errors of perfkit's own recording and caching: counted, logged rarely, never raised."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("perfkit")

LOG_INTERVAL = 60.0


@dataclass
class ErrorStat:
    """How often one source failed, and how it failed last."""

    count: int = 0
    last_message: str = ""
    last_at: float = 0.0
    last_logged_at: float = 0.0


_lock = threading.Lock()
_stats: dict[str, ErrorStat] = {}
# Called with the source and count of every error (core adds one that counts
# it in the shared rollups, so the admin's status page sees every process's errors).
_sinks: list[Callable[[str, int], None]] = []


def add_sink(sink: Callable[[str, int], None]) -> None:
    """Also send each error's source to ``sink`` (idempotent)."""
    if sink not in _sinks:
        _sinks.append(sink)


def report(source: str, exc: BaseException, count: int = 1) -> None:
    """Count ``exc`` (``count`` times) against ``source``; log it at most once per interval."""
    now = time.monotonic()
    with _lock:
        stat = _stats.setdefault(source, ErrorStat())
        stat.count += count
        stat.last_message = f"{type(exc).__name__}: {exc}"[:500]
        stat.last_at = time.time()
        should_log = now - stat.last_logged_at >= LOG_INTERVAL or stat.last_logged_at == 0.0
        if should_log:
            stat.last_logged_at = now
            count = stat.count
    for sink in _sinks:
        try:
            sink(source, count)
        except Exception:  # pragma: no cover - a sink must never raise into the caller
            logger.debug("perfkit error sink failed", exc_info=True)
    if should_log:
        logger.warning(
            "perfkit %s failed (%d failures so far in this process): %s",
            source,
            count,
            stat.last_message,
        )


def snapshot() -> dict[str, ErrorStat]:
    """A copy of this process's error counters, by source."""
    with _lock:
        return {name: ErrorStat(**vars(stat)) for name, stat in _stats.items()}


def reset() -> None:
    """Forget all counters (tests)."""
    with _lock:
        _stats.clear()
