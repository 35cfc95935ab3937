"""Prometheus text exposition of perfkit's cumulative totals.

Counters come from the never-pruned TOTAL rollups, which every process and
host adds to, so one scrape of any one process gives the whole fleet's totals:
scrape one target, not every instance (that would multiply the totals).
Latency histograms are re-bucketed to about one bucket per doubling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from perfkit.recording import histogram
from perfkit.recording.buffer import Aggregate
from perfkit.recording.query import totals

# Upper bounds (seconds) of the exposed buckets: 1 ms doubling up to ~65 s.
LE_SECONDS = tuple(0.001 * 2**i for i in range(17))
CACHE_EVENTS = ("hits", "misses", "stores", "invalidations", "errors")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def coarse_buckets(hist: dict[int, int]) -> list[tuple[float, int]]:
    """Cumulative counts per ``LE_SECONDS`` bound, then +Inf."""
    cumulative: list[tuple[float, int]] = []
    ordered = sorted(hist.items())
    seen = 0
    position = 0
    for bound in LE_SECONDS:
        limit_us = bound * 1_000_000
        while (
            position < len(ordered) and histogram.lower_bound(ordered[position][0] + 1) <= limit_us
        ):
            seen += ordered[position][1]
            position += 1
        cumulative.append((bound, seen))
    cumulative.append((math.inf, sum(hist.values())))
    return cumulative


def _endpoint_lines(rows: Iterable[tuple[str, Aggregate]]) -> list[str]:
    families = {
        "perfkit_requests_total": ("counter", "Requests, task runs and commands recorded", "count"),
        "perfkit_errors_total": ("counter", "Of those, errors (5xx or exceptions)", "errors"),
        "perfkit_queries_total": ("counter", "SQL queries they issued", "queries"),
        "perfkit_duplicate_queries_total": ("counter", "Duplicate SQL queries", "dups"),
        "perfkit_n_plus_one_total": ("counter", "Requests with an N+1 pattern", "n1"),
    }
    materialized = list(rows)
    lines: list[str] = []
    for name, (kind, help_text, counter) in families.items():
        lines += [f"# HELP {name} {help_text}.", f"# TYPE {name} {kind}"]
        for endpoint, total in materialized:
            lines.append(f"{name}{_labels(endpoint=endpoint)} {total.counters.get(counter, 0)}")
    name = "perfkit_request_duration_seconds"
    lines += [f"# HELP {name} Request duration.", f"# TYPE {name} histogram"]
    for endpoint, total in materialized:
        for bound, count in coarse_buckets(total.histogram):
            le = "+Inf" if bound == math.inf else f"{bound:g}"
            lines.append(f"{name}_bucket{_labels(endpoint=endpoint, le=le)} {count}")
        lines.append(f"{name}_count{_labels(endpoint=endpoint)} {total.counters.get('count', 0)}")
        seconds = total.counters.get("dur_us", 0) / 1_000_000
        lines.append(f"{name}_sum{_labels(endpoint=endpoint)} {seconds!r}")
    return lines


def _cache_lines(rows: list[tuple[str, Aggregate]]) -> list[str]:
    lines: list[str] = []
    for event in CACHE_EVENTS:
        name = f"perfkit_cache_{event}_total"
        lines += [f"# HELP {name} Query cache {event} per label.", f"# TYPE {name} counter"]
        for label, total in rows:
            lines.append(f"{name}{_labels(label=label)} {total.counters.get(event, 0)}")
    return lines


Collector = Callable[[], list[str]]
_collectors: dict[str, Collector] = {}


def register_collector(name: str, collector: Collector) -> None:
    """Add lines from another app (perfkit.exports registers its job counts)."""
    _collectors[name] = collector


def exposition() -> str:
    """The whole text exposition (version 0.0.4), ending with a newline."""
    lines = _endpoint_lines(sorted(totals("endpoint")))
    lines += _cache_lines(sorted(totals("cache")))
    for collector in _collectors.values():
        lines += collector()
    return "\n".join(lines) + "\n"
