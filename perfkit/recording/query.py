"""Reading rollups back: the coarsest resolution that answers a window.

Every flush (database recorder) and drain (Redis recorder) writes the
minute, hour and day rows at once, so the current hour's and day's rows are
already up to date: a window reads one resolution only.

Keys are read and asked for as recorded: a key too long for its column is
stored hashed with its text as the row's label, and every function here
returns (and accepts) that text, never the hashed column value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connections

from perfkit.conf import perfkit_settings
from perfkit.models import Resolution, Rollup
from perfkit.recording import clean, histogram
from perfkit.recording.buffer import Aggregate


@dataclass(frozen=True)
class Window:
    """A choosable time window and the rollup resolution that answers it."""

    name: str
    label: str
    span: timedelta
    resolution: Resolution
    detail_resolution: Resolution

    def since(self, resolution: int, now: datetime | None = None) -> datetime:
        """First bucket start of ``resolution`` inside the window."""
        now = now or datetime.now(tz=UTC)
        start = int((now - self.span).timestamp()) // resolution * resolution + resolution
        return datetime.fromtimestamp(start, tz=UTC)

    def buckets(self, resolution: int, now: datetime | None = None) -> list[datetime]:
        """Every bucket start of the window at ``resolution``, oldest first."""
        start = self.since(resolution, now)
        step = timedelta(seconds=resolution)
        return [start + step * i for i in range(int(self.span / step))]


WINDOWS = {
    w.name: w
    for w in (
        # The list reads the coarsest rows that answer the window; one
        # endpoint's detail page can afford a finer series.
        Window("1h", "Last hour", timedelta(hours=1), Resolution.MINUTE, Resolution.MINUTE),
        Window("24h", "Last 24 hours", timedelta(hours=24), Resolution.HOUR, Resolution.HOUR),
        Window("7d", "Last 7 days", timedelta(days=7), Resolution.DAY, Resolution.HOUR),
        Window("30d", "Last 30 days", timedelta(days=30), Resolution.DAY, Resolution.DAY),
    )
}
DEFAULT_WINDOW = "24h"


@dataclass
class KeySummary:
    """Everything one key did in a window, with its per-bucket series."""

    key: str
    total: Aggregate = field(default_factory=Aggregate)
    series: dict[datetime, Aggregate] = field(default_factory=dict)

    def counter(self, name: str) -> int:
        return self.total.counters.get(name, 0)

    def percentile(self, q: float) -> float | None:
        """Estimated percentile of the window in µs."""
        return histogram.percentile(self.total.histogram, q)


def rows(
    kind: str, window: Window, keys: Iterable[str] | None = None, *, detail: bool = False
) -> list[tuple[str, datetime, dict[str, int], dict[str, int], dict[str, int]]]:
    """(key, bucket, counters, maxima, histogram) of ``kind`` answering ``window``, one query."""
    resolution = window.detail_resolution if detail else window.resolution
    queryset = Rollup.objects.using(perfkit_settings.DATABASE_ALIAS).filter(
        kind=kind, resolution=resolution, bucket__gte=window.since(resolution)
    )
    if keys is not None:
        queryset = queryset.filter(key__in=[clean.key_of(k) for k in keys])
    return [
        (label or key, bucket, counters, maxima, hist)
        for key, label, bucket, counters, maxima, hist in queryset.values_list(
            "key", "label", "bucket", "counters", "maxima", "histogram"
        )
    ]


def summarize(
    kind: str, window: Window, keys: Iterable[str] | None = None, *, detail: bool = False
) -> list[KeySummary]:
    """One summary per key of ``kind`` seen in ``window`` (one query)."""
    summaries: dict[str, KeySummary] = {}
    for key, bucket, counters, maxima, hist in rows(kind, window, keys, detail=detail):
        summary = summaries.get(key)
        if summary is None:
            summary = summaries[key] = KeySummary(key)
        point = Aggregate(counters, maxima, {int(k): v for k, v in hist.items()})
        summary.series[bucket] = point
        total = summary.total
        own = total.counters
        for name, value in counters.items():
            own[name] = own.get(name, 0) + value
        total.merge_maxima(maxima)
        own_hist = total.histogram
        for index, count in point.histogram.items():
            own_hist[index] = own_hist.get(index, 0) + count
    return list(summaries.values())


def totals(kind: str) -> list[tuple[str, Aggregate]]:
    """Never-pruned cumulative totals per key (for counters that must not go back)."""
    found = Rollup.objects.using(perfkit_settings.DATABASE_ALIAS).filter(
        kind=kind, resolution=Resolution.TOTAL
    )
    return [
        (
            row.label or row.key,
            Aggregate(
                dict(row.counters),
                dict(row.maxima),
                {int(k): v for k, v in row.histogram.items()},
            ),
        )
        for row in found
    ]


# Sums counters and histograms, and takes maxima, of every key inside
# PostgreSQL: no JSON document crosses the wire or is decoded in Python.
_PG_TOTALS = """
WITH r AS (
    SELECT COALESCE(NULLIF(label, ''), key) AS key, counters, maxima, histogram FROM {table}
    WHERE kind = %s AND resolution = %s AND bucket >= %s
)
SELECT r.key, 'c', e.key, SUM(e.value::bigint) FROM r, jsonb_each_text(r.counters) e
GROUP BY r.key, e.key
UNION ALL
SELECT r.key, 'x', e.key, MAX(e.value::bigint) FROM r, jsonb_each_text(r.maxima) e
GROUP BY r.key, e.key
UNION ALL
SELECT r.key, 'h', e.key, SUM(e.value::bigint) FROM r, jsonb_each_text(r.histogram) e
GROUP BY r.key, e.key
"""


def key_totals(kind: str, window: Window) -> dict[str, Aggregate]:
    """Each key's merged counters, maxima and histogram over ``window`` (one query).

    On PostgreSQL the merge runs in the database; elsewhere rows are merged here.
    """
    alias = perfkit_settings.DATABASE_ALIAS
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return {s.key: s.total for s in summarize(kind, window)}
    totals: dict[str, Aggregate] = {}
    sql = _PG_TOTALS.format(table=connection.ops.quote_name(Rollup._meta.db_table))
    since = window.since(window.resolution)
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, int(window.resolution), since])
        for key, part, name, value in cursor.fetchall():
            aggregate = totals.get(key)
            if aggregate is None:
                aggregate = totals[key] = Aggregate()
            if part == "c":
                aggregate.counters[name] = int(value)
            elif part == "x":
                aggregate.maxima[name] = int(value)
            else:
                aggregate.histogram[int(name)] = int(value)
    return totals


_PG_BUCKET_COUNTERS = """
SELECT r.bucket, e.key, SUM(e.value::bigint)
FROM {table} r, jsonb_each_text(r.counters) e
WHERE r.kind = %s AND r.resolution = %s AND r.bucket >= %s
GROUP BY r.bucket, e.key
"""


def bucket_counters(kind: str, window: Window) -> dict[datetime, dict[str, int]]:
    """Per bucket of the window's detail resolution, the counters of every key summed.

    On PostgreSQL the sum runs in the database; elsewhere rows are summed here.
    """
    alias = perfkit_settings.DATABASE_ALIAS
    connection = connections[alias]
    resolution = window.detail_resolution
    since = window.since(resolution)
    found: dict[datetime, dict[str, int]] = {}
    if connection.vendor == "postgresql":
        sql = _PG_BUCKET_COUNTERS.format(table=connection.ops.quote_name(Rollup._meta.db_table))
        with connection.cursor() as cursor:
            cursor.execute(sql, [kind, int(resolution), since])
            for bucket, name, value in cursor.fetchall():
                found.setdefault(bucket, {})[name] = int(value)
        return found
    queryset = Rollup.objects.using(alias).filter(
        kind=kind, resolution=resolution, bucket__gte=since
    )
    for bucket, counters in queryset.values_list("bucket", "counters"):
        summed = found.setdefault(bucket, {})
        for name, value in counters.items():
            summed[name] = summed.get(name, 0) + value
    return found


def bucket_histograms(
    kind: str, window: Window, keys: Iterable[str]
) -> dict[str, dict[datetime, histogram.Histogram]]:
    """Per key and bucket, the latency histogram (for sparklines of a page of keys)."""
    found: dict[str, dict[datetime, histogram.Histogram]] = {}
    wanted = list(keys)
    if not wanted:
        return found
    queryset = Rollup.objects.using(perfkit_settings.DATABASE_ALIAS).filter(
        kind=kind,
        resolution=window.resolution,
        bucket__gte=window.since(window.resolution),
        key__in=[clean.key_of(k) for k in wanted],
    )
    for key, label, bucket, hist in queryset.values_list("key", "label", "bucket", "histogram"):
        found.setdefault(label or key, {})[bucket] = {int(k): v for k, v in hist.items()}
    return found
