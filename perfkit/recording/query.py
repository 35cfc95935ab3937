"""Reading rollups back: the coarsest resolution that answers a window.

Every flush (database recorder) and drain (Redis recorder) writes the
minute, ten-minute, hour and day rows at once, so the current bucket's rows
are already up to date and every coarse row is the sum of its finer ones. A
window is made of buckets of one resolution; its totals are read from the
fewest rows that add up to exactly those buckets (the last hour: its first
minutes, ten-minute rows, the current hour's row; see :meth:`Window.parts`).

Keys are read and asked for as recorded: a key too long for its column is
stored hashed with its text as the row's label, and every function here
returns (and accepts) that text, never the hashed column value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

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
    # Coarser resolutions, finest first, whose rows answer the window's totals
    # from their first bucket wholly inside it (see parts()): a few rows per
    # key instead of one per ``resolution`` bucket.
    coarse: tuple[Resolution, ...] = ()

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

    def parts(self, now: datetime | None = None) -> list[Part]:
        """Row ranges whose sum is exactly the window's ``resolution`` rows.

        Without ``coarse``: every ``resolution`` row from :meth:`since` on.
        With it: the ``resolution`` rows up to the first bucket of the next
        coarser resolution wholly inside the window, that resolution's rows up
        to the next one's, and so on; the coarsest from there on, current and
        (clock skew) later buckets included, as the finest would be. A coarser
        row holds the sum of its finer rows: the recorders write them in one
        transaction.
        """
        since = self.since(self.resolution, now)
        resolution = int(self.resolution)
        found = []
        for coarser in self.coarse:
            width = int(coarser)
            edge = datetime.fromtimestamp(-(-int(since.timestamp()) // width) * width, tz=UTC)
            if since < edge:
                found.append(Part(resolution, since, edge))
            since, resolution = edge, width
        found.append(Part(resolution, since))
        return found


@dataclass(frozen=True)
class Part:
    """Rollup rows of one resolution with ``since <= bucket < until`` (no end if None)."""

    resolution: int
    since: datetime
    until: datetime | None = None

    def sql(self, connection: BaseDatabaseWrapper, now: datetime) -> tuple[str, list[Any]]:
        """A WHERE condition on columns ``resolution`` and ``bucket``, and its parameters.

        Buckets are named one by one (they start on a multiple of their
        resolution), up to the one holding ``now``; a part with no end adds
        any later one (a clock running fast). PostgreSQL estimates a range
        over the last hours or days as a good part of the table (most minute
        rows are recent) and scanned all of it: 1.2 s for the 24-hour list.
        """
        adapt = connection.ops.adapt_datetimefield_value
        step = timedelta(seconds=self.resolution)
        if self.until is None:
            epoch = int(now.timestamp())
            last = datetime.fromtimestamp(epoch // self.resolution * self.resolution, tz=UTC)
        else:
            last = self.until - step
        named = []
        bucket = self.since
        while bucket <= last:
            named.append(adapt(bucket))
            bucket += step
        terms = [f"bucket IN ({', '.join(['%s'] * len(named))})"] if named else []
        if self.until is None:
            terms.append("bucket > %s")
            named.append(adapt(last))
        return f"(resolution = %s AND ({' OR '.join(terms)}))", [self.resolution, *named]


WINDOWS = {
    w.name: w
    for w in (
        # The list reads the coarsest rows that answer the window; one
        # endpoint's detail page can afford a finer series.
        Window(
            "1h",
            "Last hour",
            timedelta(hours=1),
            Resolution.MINUTE,
            Resolution.MINUTE,
            coarse=(Resolution.TEN_MINUTES, Resolution.HOUR),
        ),
        Window(
            "24h",
            "Last 24 hours",
            timedelta(hours=24),
            Resolution.HOUR,
            Resolution.HOUR,
            coarse=(Resolution.DAY,),
        ),
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


def key_totals(kind: str, window: Window, now: datetime | None = None) -> dict[str, Aggregate]:
    """Each key's merged counters, maxima and histogram over ``window`` (one query).

    Reads the few rows per key of :meth:`Window.parts` and merges them here,
    on every database: their JSON is decoded once, without the ORM's
    per-value converters.
    """
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    now = now or datetime.now(tz=UTC)
    conditions = []
    params: list[Any] = [kind]
    for part in window.parts(now):
        condition, more = part.sql(connection, now)
        conditions.append(condition)
        params += more
    sql = (
        "SELECT key, label, counters, maxima, histogram FROM {table} WHERE kind = %s AND ({parts})"
    ).format(table=connection.ops.quote_name(Rollup._meta.db_table), parts=" OR ".join(conditions))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    totals: dict[str, Aggregate] = {}
    histograms: dict[str, dict[str, int]] = {}
    documents = _parse_all(doc for row in found for doc in row[2:])
    for (key, label, *_), counters, maxima, hist in zip(
        found, documents[0::3], documents[1::3], documents[2::3], strict=True
    ):
        shown = label or key
        aggregate = totals.get(shown)
        if aggregate is None:
            aggregate = totals[shown] = Aggregate()
            histograms[shown] = {}
        own = aggregate.counters
        for name, value in counters.items():
            own[name] = own.get(name, 0) + value
        largest = aggregate.maxima
        for name, value in maxima.items():
            if value > largest.get(name, value - 1):
                largest[name] = value
        buckets = histograms[shown]
        for index, count in hist.items():
            buckets[index] = buckets.get(index, 0) + count
    for shown, buckets in histograms.items():
        totals[shown].histogram = {int(index): count for index, count in buckets.items()}
    return totals


def _parse_all(documents: Iterable[str]) -> list[Any]:
    """Decode JSON documents in one call, as one array.

    A ``json.loads`` call per document cost more than the whole merge.
    """
    return list(json.loads("[" + ",".join(documents) + "]"))


_PG_BUCKET_COUNTERS = """
SELECT r.bucket, e.key, SUM(e.value::bigint)
FROM {table} r, jsonb_each_text(r.counters) e
WHERE r.kind = %s AND {condition}
GROUP BY r.bucket, e.key
"""


def bucket_counters(kind: str, window: Window) -> dict[datetime, dict[str, int]]:
    """Per bucket of the window's detail resolution, the counters of every key summed.

    On PostgreSQL the sum runs in the database; elsewhere rows are summed here.
    """
    alias = perfkit_settings.DATABASE_ALIAS
    connection = connections[alias]
    resolution = window.detail_resolution
    now = datetime.now(tz=UTC)
    since = window.since(resolution, now)
    found: dict[datetime, dict[str, int]] = {}
    if connection.vendor == "postgresql":
        condition, params = Part(int(resolution), since).sql(connection, now)
        sql = _PG_BUCKET_COUNTERS.format(
            table=connection.ops.quote_name(Rollup._meta.db_table), condition=condition
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [kind, *params])
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


# A bucket's start as epoch seconds: psycopg's timestamp loader through
# Django's time zone handling was a third of a page's sparklines.
_EPOCH_SQL = {
    "postgresql": "EXTRACT(EPOCH FROM bucket)::bigint",
    "sqlite": "CAST(strftime('%%s', bucket) AS INTEGER)",
}


def bucket_histograms(
    kind: str, window: Window, keys: Iterable[str], now: datetime | None = None
) -> dict[str, dict[datetime, histogram.Histogram]]:
    """Per key and bucket, the latency histogram (for sparklines of a page of keys)."""
    found: dict[str, dict[datetime, histogram.Histogram]] = {}
    wanted = list(keys)
    if not wanted:
        return found
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    # Rows are read as text and decoded here, like key_totals: the ORM's
    # converters doubled the cost (6,000 rows for the last hour).
    epoch = _EPOCH_SQL.get(connection.vendor)
    since = connection.ops.adapt_datetimefield_value(window.since(window.resolution, now))
    stored = [clean.key_of(k) for k in wanted]
    # A range, unlike key_totals: with the keys named, PostgreSQL reads each
    # key's rows from the (kind, key, resolution, bucket) index.
    sql = (
        f"SELECT key, label, {epoch or 'bucket'}, histogram "
        f"FROM {connection.ops.quote_name(Rollup._meta.db_table)} "
        f"WHERE kind = %s AND resolution = %s AND bucket >= %s "
        f"AND key IN ({', '.join(['%s'] * len(stored))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, int(window.resolution), since, *stored])
        rows = cursor.fetchall()
    for (key, label, start, _), hist in zip(rows, _parse_all(row[3] for row in rows), strict=True):
        bucket = datetime.fromtimestamp(start, tz=UTC) if epoch else _aware(start, connection)
        found.setdefault(label or key, {})[bucket] = {int(k): v for k, v in hist.items()}
    return found


def _aware(value: datetime, connection: BaseDatabaseWrapper) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=connection.timezone)
