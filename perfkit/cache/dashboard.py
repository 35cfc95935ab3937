"""Figures of the "Cache hit rates" admin page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.safestring import SafeString

from perfkit import charts
from perfkit.cache.stats import KIND
from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.recording.query import Window, bucket_counters, key_totals

# Invalidated this often while hits stay rare: caching the table does not pay.
CHURN_PER_MINUTE = 1.0
LOW_RATIO = 0.5


@dataclass
class LabelRow:
    """One label's cache events over a window."""

    label: str
    hits: int
    misses: int
    stores: int
    invalidations: int
    errors: int
    bypasses: int
    hint: str

    @property
    def ratio(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    @property
    def ratio_percent(self) -> float | None:
        return None if self.ratio is None else self.ratio * 100


def label_rows(window: Window) -> list[LabelRow]:
    """Every label seen in ``window``, most lookups first (one query)."""
    minutes = window.span.total_seconds() / 60
    rows = []
    for label, total in key_totals(KIND, window).items():
        c = total.counters
        row = LabelRow(
            label=label,
            hits=c.get("hits", 0),
            misses=c.get("misses", 0),
            stores=c.get("stores", 0),
            invalidations=c.get("invalidations", 0),
            errors=c.get("errors", 0),
            bypasses=c.get("bypasses", 0),
            hint="",
        )
        per_minute = row.invalidations / minutes
        # Only where something reads through the cache: a table written often
        # that nobody caches needs no advice.
        if per_minute >= CHURN_PER_MINUTE and row.ratio is not None and row.ratio < LOW_RATIO:
            often = "once" if round(per_minute) <= 1 else f"{per_minute:.0f} times"
            row.hint = (
                f"{row.label} is written about {often} a minute, so its cached "
                "reads rarely survive until the next read. Cache reads of tables that change "
                "less often, or give this one a short timeout and accept the misses."
            )
        rows.append(row)
    rows.sort(key=lambda r: -(r.hits + r.misses + r.invalidations))
    return rows


def ratio_chart(window: Window) -> SafeString:
    """Hits and misses of all labels per bucket."""
    buckets = window.buckets(window.detail_resolution)
    summed = bucket_counters(KIND, window)
    hits = {bucket: counters.get("hits", 0) for bucket, counters in summed.items()}
    misses = {bucket: counters.get("misses", 0) for bucket, counters in summed.items()}
    ratio = [
        (100 * hits.get(b, 0) / (hits.get(b, 0) + misses.get(b, 0)))
        if hits.get(b, 0) + misses.get(b, 0)
        else None
        for b in buckets
    ]
    return charts.line_chart(
        [charts.Series("hit ratio", ratio)],
        [f"{b:%Y-%m-%d %H:%M}" for b in buckets],
        "%",
        top=100,
    )


REDIS_FIGURES = (
    ("used_memory_human", "Used memory"),
    ("maxmemory_human", "Memory limit"),
    ("evicted_keys", "Evicted keys"),
    ("keyspace_hits", "Keyspace hits"),
    ("keyspace_misses", "Keyspace misses"),
    ("connected_clients", "Connected clients"),
)


def redis_figures() -> list[tuple[str, Any]] | None:
    """Server figures of the query cache's Redis, or None when it is not django-redis."""
    alias = perfkit_settings.CACHE_ALIAS
    backend = str(settings.CACHES.get(alias, {}).get("BACKEND", ""))
    if not backend.startswith("django_redis."):
        return None
    try:
        from django_redis import get_redis_connection

        info = get_redis_connection(alias).info()
    except Exception as exc:
        errors.report("cache redis info", exc)
        return [("Error", f"{type(exc).__name__}: {exc}")]
    return [(label, info.get(name, "–")) for name, label in REDIS_FIGURES]
