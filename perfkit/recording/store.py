"""Merging batches of aggregates into the rollup rows, at every resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.db import connections, transaction

from perfkit.models import Resolution, Rollup
from perfkit.recording import histogram
from perfkit.recording.buffer import Aggregate, Batch

RowKey = tuple[str, str, int, datetime]  # kind, key, resolution, bucket

RESOLUTIONS = (
    Resolution.MINUTE,
    Resolution.TEN_MINUTES,
    Resolution.HOUR,
    Resolution.DAY,
    Resolution.TOTAL,
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 400


def bucket_start(epoch_seconds: int, resolution: int) -> datetime:
    """Start of the ``resolution`` bucket holding ``epoch_seconds``."""
    if resolution == Resolution.TOTAL:
        return EPOCH
    return datetime.fromtimestamp(epoch_seconds // resolution * resolution, tz=UTC)


def by_row(batch: Batch) -> dict[RowKey, Aggregate]:
    """Combine a batch of minute aggregates into one aggregate per rollup row."""
    rows: dict[RowKey, Aggregate] = {}
    for (kind, key, minute), aggregate in batch.items():
        for resolution in RESOLUTIONS:
            row_key = (kind, key, int(resolution), bucket_start(minute, resolution))
            row = rows.get(row_key)
            if row is None:
                row = rows[row_key] = Aggregate()
            row.merge(aggregate)
    return rows


def merge_batch(batch: Batch, using: str) -> None:
    """Add ``batch`` to the minute, hour, day and total rows, in the caller's transaction.

    Rows are created first (conflicts ignored, so concurrent writers agree),
    then locked in primary-key order, merged in Python and written back.
    """
    rows = by_row(batch)
    ordered = sorted(rows, key=lambda k: (k[0], k[2], k[3], k[1]))
    manager = Rollup.objects.db_manager(using)
    manager.bulk_create(
        [
            Rollup(kind=k, key=key, label=rows[k, key, r, b].label, resolution=r, bucket=b)
            for k, key, r, b in ordered
        ],
        ignore_conflicts=True,
        batch_size=_CHUNK,
    )
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        wanted = set(chunk)
        existing = (
            manager.select_for_update()
            .filter(
                kind__in={k[0] for k in chunk},
                key__in={k[1] for k in chunk},
                resolution__in={k[2] for k in chunk},
                bucket__in={k[3] for k in chunk},
            )
            .order_by("pk")
        )
        changed = []
        for row in existing:
            row_key = (row.kind, row.key, row.resolution, row.bucket)
            if row_key not in wanted:
                continue
            _merge_row(row, rows[row_key])
            changed.append(row)
        _write_back(changed, using)


def _write_back(rows: list[Rollup], using: str) -> None:
    """Store merged rows: one ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL.

    ``bulk_update`` builds a CASE per column and row, which measured about
    three times the CPU of the whole flush otherwise.
    """
    if not rows:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        Rollup.objects.db_manager(using).bulk_update(
            rows, ["counters", "maxima", "histogram", "p95_bucket"], batch_size=_CHUNK
        )
        return
    table = connection.ops.quote_name(Rollup._meta.db_table)
    values = ", ".join(["(%s::bigint, %s::jsonb, %s::jsonb, %s::jsonb, %s::smallint)"] * len(rows))
    params: list[int | str | None] = []
    for row in rows:
        params += [
            row.pk,
            json.dumps(row.counters),
            json.dumps(row.maxima),
            json.dumps(row.histogram),
            row.p95_bucket,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS r SET counters = v.c, maxima = v.m, histogram = v.h, "
            f"p95_bucket = v.p FROM (VALUES {values}) AS v(id, c, m, h, p) WHERE r.id = v.id",
            params,
        )


def _merge_row(row: Rollup, aggregate: Aggregate) -> None:
    counters = row.counters
    for name, value in aggregate.counters.items():
        counters[name] = counters.get(name, 0) + value
    maxima = row.maxima
    for name, value in aggregate.maxima.items():
        if value > maxima.get(name, value - 1):
            maxima[name] = value
    merged = histogram.merge({int(k): v for k, v in row.histogram.items()}, aggregate.histogram)
    row.histogram = {str(k): v for k, v in sorted(merged.items())}
    row.p95_bucket = histogram.percentile_index(merged, 95)


def write_batch(batch: Batch, using: str) -> None:
    """Merge ``batch`` into the rollups in its own transaction."""
    with transaction.atomic(using=using):
        merge_batch(batch, using)
