"""Choosing and writing slow-request samples, off the request path.

A run becomes a sample when it is slower than ``METRICS_SLOW_MS`` or among
the slowest ``METRICS_SAMPLES_PER_HOUR`` of its endpoint this hour in this
process. Samples are buffered in memory and written by core's flush, which
then trims each endpoint-hour back to the slowest ``METRICS_SAMPLES_PER_HOUR``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Window
from django.db.models.functions import RowNumber

from perfkit.conf import perfkit_settings
from perfkit.metrics import waterfall
from perfkit.metrics.fixhints import capture_hints
from perfkit.metrics.models import SlowRequest
from perfkit.metrics.outcome import Outcome
from perfkit.recording import clean, split
from perfkit.recording.pipeline import count_bad_rows

if TYPE_CHECKING:
    from perfkit.capture import Capture

MAX_PENDING = 1000
MAX_REPEATED = 10
MAX_TEXT = 2000

_lock = threading.Lock()
_pending: list[dict[str, Any]] = []
_slowest: dict[tuple[str, int], list[float]] = {}


def offer(
    outcome: Outcome, capture: Capture, duration: float, cache: dict[str, int] | None = None
) -> None:
    """Keep this run as a sample if it is slow enough (cheap when it is not)."""
    duration_ms = duration * 1000
    hour = int(datetime.now(tz=UTC).timestamp()) // 3600 * 3600
    limit = perfkit_settings.METRICS_SAMPLES_PER_HOUR
    with _lock:
        heap = _slowest.get((outcome.endpoint, hour))
        if heap is None:
            if len(_slowest) > 10_000:
                _slowest.clear()
            heap = _slowest[(outcome.endpoint, hour)] = []
        slow = duration_ms >= perfkit_settings.METRICS_SLOW_MS
        if len(heap) < limit:
            heapq.heappush(heap, duration_ms)
        elif duration_ms > heap[0]:
            heapq.heapreplace(heap, duration_ms)
        elif not slow:
            return
        if len(_pending) >= MAX_PENDING:
            return
    row = _build(outcome, capture, duration_ms, hour)
    row["cache"] = clean.json_value(cache or {})
    _pending.append(row)


def _build(outcome: Outcome, capture: Capture, duration_ms: float, hour: int) -> dict[str, Any]:
    """The sample's row, every string cleaned (no value may fail the batch it joins)."""
    chars = perfkit_settings.METRICS_SAMPLE_SQL_CHARS
    hints = capture_hints(capture) if capture.n_plus_one else {}
    repeated = []
    for stat in capture.repeated[:MAX_REPEATED]:
        item: dict[str, Any] = {
            "sql": clean.text(stat.sql, chars),
            "count": stat.count,
            "duplicates": stat.duplicates,
            "ms": round(stat.time * 1000, 3),
            "site": None,
            "alias": capture.alias_of(stat.sql) or "default",
        }
        hint = hints.get(stat.sql)
        if hint is not None:
            item["fix"] = clean.text(hint.code, MAX_TEXT)
            item["fix_note"] = clean.text(hint.note, MAX_TEXT)
        if stat.site is not None:
            item["site"] = {
                "file": clean.text(stat.site.filename, MAX_TEXT),
                "line": stat.site.lineno,
                "function": clean.text(stat.site.function, MAX_TEXT),
            }
        if stat.params is not None:
            item["params"] = clean.text(str(stat.params), chars)
        repeated.append(item)
    return {
        # The endpoint's rollup key (hashed when long), so its detail page finds it.
        "endpoint": clean.rollup_key(outcome.endpoint)[0],
        "method": clean.text(outcome.method, 10),
        "path": clean.text(outcome.path, MAX_TEXT),
        "user_id": clean.text(outcome.user_id or "", 64),
        "status": outcome.status,
        "error": outcome.error,
        "duration_ms": round(duration_ms, 3),
        "db_ms": round(capture.db_time * 1000, 3),
        "queries": capture.queries,
        "duplicates": capture.duplicates,
        "n_plus_one": bool(capture.n_plus_one),
        "repeated": repeated,
        "timeline": waterfall.stored(capture, chars),
        "release": clean.text(perfkit_settings.RELEASE or "", 100),
        "hour": datetime.fromtimestamp(hour, tz=UTC),
        "created_at": datetime.now(tz=UTC),
    }


def pending_count() -> int:
    return len(_pending)


def flush() -> None:
    """Write buffered samples and trim their endpoint-hours (a core flush hook)."""
    with _lock:
        batch = _pending[:]
        del _pending[:]
    if not batch:
        return
    using = perfkit_settings.DATABASE_ALIAS
    written: list[dict[str, Any]] = []

    def write(_: int, part: Sequence[dict[str, Any]]) -> None:
        with transaction.atomic(using=using):  # a refused part writes nothing
            SlowRequest.objects.using(using).bulk_create([SlowRequest(**row) for row in part])
        written.extend(part)

    outcome = split.write_in_parts(batch, write)
    count_bad_rows(len(outcome.dropped), outcome.data_error)
    if written:
        trim({(row["endpoint"], row["hour"]) for row in written}, using)
    if outcome.error is not None:
        with _lock:
            _pending[:0] = outcome.unwritten[: MAX_PENDING - len(_pending)]
        raise outcome.error


def trim(groups: set[tuple[str, datetime]], using: str) -> None:
    """Keep only the slowest samples of each endpoint-hour."""
    limit = perfkit_settings.METRICS_SAMPLES_PER_HOUR
    for endpoint, hour in groups:
        ranked = (
            SlowRequest.objects.using(using)
            .filter(endpoint=endpoint, hour=hour)
            .annotate(rank=Window(RowNumber(), order_by=["-duration_ms", "-pk"]))
            .filter(rank__gt=limit)
            .values_list("pk", flat=True)
        )
        extra = list(ranked)
        if extra:
            SlowRequest.objects.using(using).filter(pk__in=extra).delete()


def reset() -> None:
    """Forget buffered samples and per-hour rankings (tests)."""
    with _lock:
        _pending.clear()
        _slowest.clear()
