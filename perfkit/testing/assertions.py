"""Context managers asserting what a block did with SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from perfkit import observe
from perfkit.capture import Capture, FingerprintStat
from perfkit.metrics.fixhints import FixHint, capture_hints


class QueryAssertionError(AssertionError):
    """A query assertion failed; the message lists statements and call sites."""


def _describe(
    stats: list[FingerprintStat], limit: int = 10, hints: dict[str, FixHint] | None = None
) -> str:
    lines = []
    for stat in stats[:limit]:
        where = f"\n      at {stat.site}" if stat.site else ""
        extra = f", {stat.duplicates} duplicate(s)" if stat.duplicates else ""
        hint = (hints or {}).get(stat.sql)
        fix = f"\n      fix: {hint}" if hint is not None else ""
        lines.append(f"  {stat.count}x{extra}: {stat.sql[:500]}{where}{fix}")
    return "\n".join(lines)


@contextmanager
def _capturing(threshold: int = 5) -> Iterator[Capture]:
    capture = Capture(detailed=True, threshold=threshold)
    with observe.observing(capture):
        yield capture


@contextmanager
def assert_max_queries(limit: int) -> Iterator[Capture]:
    """Fail if the block runs more than ``limit`` queries (on any alias)."""
    with _capturing() as capture:
        yield capture
    if capture.queries > limit:
        ranked = sorted(capture.fingerprints.values(), key=lambda s: -s.count)
        raise QueryAssertionError(
            f"{capture.queries} queries ran, more than the {limit} allowed:\n{_describe(ranked)}"
        )


@contextmanager
def assert_no_duplicate_queries() -> Iterator[Capture]:
    """Fail if the block runs the same statement with the same parameters twice."""
    with _capturing() as capture:
        yield capture
    if capture.duplicates:
        found = [s for s in capture.fingerprints.values() if s.duplicates]
        raise QueryAssertionError(
            f"{capture.duplicates} duplicate queries ran:\n{_describe(found)}"
        )


@contextmanager
def assert_no_n_plus_one(threshold: int = 5) -> Iterator[Capture]:
    """Fail if one statement shape runs ``threshold`` times or more (an N+1)."""
    with _capturing(threshold) as capture:
        yield capture
    if capture.n_plus_one:
        raise QueryAssertionError(
            f"N+1 queries ran (a statement repeated {threshold}+ times):\n"
            f"{_describe(capture.n_plus_one, hints=capture_hints(capture))}"
        )
