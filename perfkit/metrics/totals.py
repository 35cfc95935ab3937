"""Each endpoint's figures over a window, for the Slow endpoints list (one query).

The window is read from the few rows per key of
:meth:`perfkit.recording.query.Window.parts` (exact to the minute). The
counters and maxima the list shows are summed and taken in the database,
and each endpoint's histograms come back as one JSON array, merged here: one
row per endpoint crosses the wire instead of five to fifteen, and two
thirds of the JSON is never decoded in Python. Databases other than
PostgreSQL and SQLite read the rows through
:func:`perfkit.recording.query.key_totals`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import connections

from perfkit.conf import perfkit_settings
from perfkit.metrics.run import ENDPOINT_KIND
from perfkit.models import Rollup
from perfkit.recording.buffer import Aggregate
from perfkit.recording.query import Window, key_totals

COUNTERS = ("count", "errors", "queries", "n1", "dups")
"""The counters an :class:`~perfkit.metrics.dashboard.EndpointRow` shows."""
MAXIMA = ("dur_us", "queries")

# One JSON field of a row as an integer, and a key's histograms as one array.
_FIELD = {
    "postgresql": "({column}->>'{name}')::bigint",
    "sqlite": "json_extract({column}, '$.{name}')",
}
_HISTOGRAMS = {
    "postgresql": "'[' || string_agg(histogram::text, ',') || ']'",
    "sqlite": "'[' || group_concat(histogram, ',') || ']'",
}


def endpoint_totals(window: Window, now: datetime | None = None) -> dict[str, Aggregate]:
    """Each endpoint's :data:`COUNTERS`, :data:`MAXIMA` and histogram over ``window``."""
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    field = _FIELD.get(connection.vendor)
    if field is None:
        return key_totals(ENDPOINT_KIND, window, now)
    now = now or datetime.now(tz=UTC)
    conditions = []
    params: list[Any] = []
    for part in window.parts(now):
        condition, more = part.sql(connection, now)
        conditions.append(condition)
        params += more
    sums = [f"COALESCE(SUM({field.format(column='counters', name=name)}), 0)" for name in COUNTERS]
    largest = [f"MAX({field.format(column='maxima', name=name)})" for name in MAXIMA]
    sql = (
        f"SELECT key, MAX(label), {', '.join(sums + largest)}, "
        f"{_HISTOGRAMS[connection.vendor]} "
        f"FROM {connection.ops.quote_name(Rollup._meta.db_table)} "
        f"WHERE kind = %s AND ({' OR '.join(conditions)}) GROUP BY key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ENDPOINT_KIND, *params])
        found = cursor.fetchall()
    # Every key's array in one decode: a json.loads per key cost more than the merge.
    arrays = json.loads("[" + ",".join(row[-1] for row in found) + "]")
    totals: dict[str, Aggregate] = {}
    counted = len(COUNTERS)
    for row, histograms in zip(found, arrays, strict=True):
        key, label, *figures, _ = row
        merged: dict[str, int] = {}
        for one in histograms:
            for index, count in one.items():
                merged[index] = merged.get(index, 0) + count
        totals[label or key] = Aggregate(
            counters=dict(zip(COUNTERS, map(int, figures[:counted]), strict=True)),
            maxima={
                name: int(value)
                for name, value in zip(MAXIMA, figures[counted:], strict=True)
                if value is not None
            },
            histogram={int(index): count for index, count in merged.items()},
        )
    return totals
