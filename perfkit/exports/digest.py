"""The built-in "Performance digest" report: yesterday's slow endpoints, N+1s, cache ratios.

It reads core's rollups (kinds "endpoint" and "cache") through core's query
API, so it needs no import of perfkit.metrics or perfkit.cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

from perfkit.conf import perfkit_settings
from perfkit.exports.reports import Report
from perfkit.recording import histogram
from perfkit.recording.query import WINDOWS, key_totals

TOP = 20


class PerformanceDigest(Report):
    """Slowest endpoints by p95, N+1 offenders and cache hit ratios of the last 24 hours."""

    name = "performance-digest"
    title = "Performance digest"
    schedule = "0 7 * * *"
    formats = ("csv",)

    @property
    def recipients(self) -> Sequence[str]:  # type: ignore[override]
        return perfkit_settings.EXPORTS_DIGEST_RECIPIENTS

    def columns(self) -> list[tuple[str, models.Field[Any, Any]]]:
        return [
            ("Section", models.CharField()),
            ("Name", models.CharField()),
            ("Requests or lookups", models.BigIntegerField()),
            ("p95 ms", models.FloatField()),
            ("Errors", models.BigIntegerField()),
            ("N+1 requests", models.BigIntegerField()),
            ("Hit ratio %", models.FloatField()),
        ]

    def rows(self) -> Iterable[Sequence[Any]]:
        window = WINDOWS["24h"]
        endpoints = key_totals("endpoint", window)
        ranked = []
        for name, total in endpoints.items():
            p95 = histogram.percentile(total.histogram, 95)
            ranked.append((name, total, (p95 or 0) / 1000))
        ranked.sort(key=lambda item: -item[2])
        offenders = sorted(
            (item for item in ranked if item[1].counters.get("n1")),
            key=lambda item: -item[1].counters.get("n1", 0),
        )
        for section, items in (("slowest", ranked), ("n+1", offenders)):
            for name, total, p95 in items[:TOP]:
                c = total.counters
                yield (
                    section,
                    name,
                    c.get("count", 0),
                    round(p95, 1),
                    c.get("errors", 0),
                    c.get("n1", 0),
                    None,
                )
        for label, total in sorted(key_totals("cache", window).items()):
            c = total.counters
            lookups = c.get("hits", 0) + c.get("misses", 0)
            ratio = round(100 * c.get("hits", 0) / lookups, 1) if lookups else None
            yield ("cache", label, lookups, None, c.get("errors", 0), None, ratio)
