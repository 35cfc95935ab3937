"""Per-bucket 95th percentiles of a few keys: the trend lines of a page of rows.

Every rollup row carries the bucket of its 95th percentile
(``Rollup.p95_bucket``), written with its histogram, so a page of 100
sparklines over the last hour reads 6,000 small numbers instead of decoding
6,000 histograms. A row written before that column existed is read with its
histogram and the percentile taken here: the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.db import connections

from perfkit.conf import perfkit_settings
from perfkit.models import Rollup
from perfkit.recording import clean, histogram
from perfkit.recording.query import Window

# A bucket's start as epoch seconds, computed by the database: converting
# thousands of timestamps through Django's time zone handling costs more.
_EPOCH_SQL = {
    "postgresql": "EXTRACT(EPOCH FROM bucket)::bigint",
    "sqlite": "CAST(strftime('%%s', bucket) AS INTEGER)",
}

Trend = dict[int, float | None]
"""Bucket start (epoch seconds) -> the bucket's 95th percentile in µs (None: no timings)."""


def bucket_p95(
    kind: str, window: Window, keys: Iterable[str], now: datetime | None = None
) -> dict[str, Trend]:
    """Per key, the 95th percentile of every bucket of ``window`` it has a row for (one query)."""
    found: dict[str, Trend] = {}
    stored = [clean.key_of(k) for k in keys]
    if not stored:
        return found
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    epoch = _EPOCH_SQL.get(connection.vendor, "bucket")
    since = window.since(window.resolution, now)
    sql = (
        f"SELECT key, label, {epoch}, p95_bucket, "
        f"CASE WHEN p95_bucket IS NULL THEN histogram END "
        f"FROM {connection.ops.quote_name(Rollup._meta.db_table)} "
        f"WHERE kind = %s AND resolution = %s AND bucket >= %s "
        f"AND key IN ({', '.join(['%s'] * len(stored))})"
    )
    params: list[Any] = [
        kind,
        int(window.resolution),
        connection.ops.adapt_datetimefield_value(since),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *stored])
        rows = cursor.fetchall()
    midpoints: dict[int, float] = {}
    for key, label, start, stored_index, text in rows:
        bucket = _epoch(start, connection.timezone or UTC)
        index = stored_index
        if index is None and text is not None:
            stored_histogram = json.loads(text) if isinstance(text, str) else text
            index = histogram.percentile_index({int(k): v for k, v in stored_histogram.items()}, 95)
        value = None
        if index is not None:
            value = midpoints.get(index)
            if value is None:
                value = midpoints[index] = histogram.midpoint(index)
        found.setdefault(label or key, {})[bucket] = value
    return found


def _epoch(start: int | datetime, timezone: tzinfo) -> int:
    """Epoch seconds of a bucket read as a number or (other databases) a datetime."""
    if isinstance(start, datetime):
        return int((start if start.tzinfo else start.replace(tzinfo=timezone)).timestamp())
    return int(start)
