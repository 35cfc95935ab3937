"""The table of ``manage.py perfkit_top``: the Slow endpoints list, as text.

Rows come from :func:`perfkit.metrics.dashboard.endpoint_rows`, the same read
the admin page makes (one query over the window's rollups); this module only
picks, orders and lays them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.module_loading import import_string

from perfkit.conf import perfkit_settings
from perfkit.metrics.dashboard import EndpointRow, endpoint_rows
from perfkit.recording.pipeline import default_recorder_path
from perfkit.recording.query import Window

# --sort choice -> the dashboard's sort field (descending: worst first).
SORTS = {
    "p95": "-p95",
    "p99": "-p99",
    "count": "-requests",
    "errors": "-p95",  # then re-sorted by error count, see top_rows()
    "queries": "-mean_queries",
}
DEFAULT_SORT = "p95"
MIN_ENDPOINT_WIDTH = 20
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    cell: Callable[[EndpointRow], str]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


COLUMNS = (
    Column("REQUESTS", 9, lambda r: str(r.requests)),
    Column("ERRORS", 7, lambda r: str(r.errors)),
    Column("P50 MS", 9, lambda r: _ms(r.p50)),
    Column("P95 MS", 9, lambda r: _ms(r.p95)),
    Column("P99 MS", 9, lambda r: _ms(r.p99)),
    Column("AVG Q", 7, lambda r: f"{r.mean_queries:.1f}"),
    Column("N+1", 6, lambda r: str(r.n_plus_one)),
)


@dataclass
class Top:
    """One read: the rows to show and how many endpoints the window holds."""

    window: Window
    sort: str
    rows: list[EndpointRow]
    total: int
    read_at: datetime


def top_rows(window: Window, sort: str = DEFAULT_SORT, limit: int = 20) -> Top:
    """The ``limit`` worst endpoints of ``window`` by ``sort`` (one query)."""
    rows = endpoint_rows(window, sort=SORTS[sort])
    if sort == "errors":
        # Stable: endpoints with as many errors keep their p95 order.
        rows.sort(key=lambda r: r.errors, reverse=True)
    return Top(window, sort, rows[:limit], len(rows), datetime.now(tz=UTC))


def recorder_needs_drain() -> bool:
    """Whether counts reach the rollups only after a drain (the Redis recorder)."""
    try:
        recorder_class = import_string(default_recorder_path())
    except ImportError:
        return False
    return bool(getattr(recorder_class, "needs_drain", False))


def empty_hint(window: Window, *, needs_drain: bool = False) -> str:
    """What to say when the window holds no requests, and where to look."""
    hint = f"no requests recorded in the {window.label.lower()} — is PerfMiddleware installed?"
    if not perfkit_settings.METRICS_ENABLED:
        hint += " (PERFKIT['METRICS_ENABLED'] is off.)"
    if needs_drain:
        hint += (
            " With the Redis recorder, counts reach the database at each drain: "
            "schedule perfkit.drain (perfkit.schedule.beat_schedule()) or run perfkit_drain."
        )
    return hint


def render(top: Top, *, width: int | None = None, needs_drain: bool = False) -> str:
    """The header line and the table; ``width`` (a terminal's) truncates endpoints."""
    shown = f"{len(top.rows)} of {top.total}" if len(top.rows) < top.total else str(top.total)
    header = (
        f"perfkit top — {top.window.label.lower()} — sorted by {top.sort} — "
        f"{shown} endpoint{'s' if top.total != 1 else ''} — {top.read_at:%H:%M:%S} UTC"
    )
    if needs_drain:
        header += " — Redis recorder: figures as of the last drain"
    if not top.rows:
        return f"{header}\n{empty_hint(top.window, needs_drain=needs_drain)}"
    numbers = sum(c.width + 1 for c in COLUMNS)
    longest = max(len("ENDPOINT"), *(len(r.endpoint) for r in top.rows))
    name_width = longest
    if width is not None:
        name_width = max(MIN_ENDPOINT_WIDTH, min(longest, width - numbers))
    lines = [
        "ENDPOINT".ljust(name_width) + "".join(f" {c.title:>{c.width}}" for c in COLUMNS),
    ]
    for row in top.rows:
        name = row.endpoint
        if len(name) > name_width:
            name = name[: name_width - len(ELLIPSIS)] + ELLIPSIS
        cells = "".join(f" {c.cell(row):>{c.width}}" for c in COLUMNS)
        lines.append(name.ljust(name_width) + cells)
    return "\n".join([header, *lines])
