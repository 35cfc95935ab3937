"""Turning endpoint rollups into the rows and charts of the "Slow endpoints" pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils.safestring import SafeString

from perfkit import charts
from perfkit.metrics import releases
from perfkit.metrics.endpoints import url_name_of
from perfkit.metrics.run import ENDPOINT_KIND
from perfkit.metrics.totals import endpoint_totals
from perfkit.recording import histogram
from perfkit.recording.buffer import Aggregate
from perfkit.recording.query import Window, summarize
from perfkit.recording.trends import bucket_p95

SORT_FIELDS = (
    "endpoint",
    "requests",
    "p50",
    "p95",
    "p99",
    "max",
    "error_rate",
    "mean_queries",
    "max_queries",
)
DEFAULT_SORT = "-p95"
TYPES = {"web": "Web requests", "task": "Celery tasks", "command": "Commands"}


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


@dataclass
class EndpointRow:
    """One endpoint's figures over a window (times in ms)."""

    endpoint: str
    requests: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean_queries: float
    max_queries: int
    n_plus_one: int
    duplicates: int
    sparkline: SafeString = field(default_factory=lambda: SafeString(""))
    url_name: str = ""  # "namespace:name" of the route, when it has one (web endpoints)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @classmethod
    def from_total(cls, endpoint: str, total: Aggregate) -> EndpointRow:
        requests = total.counters.get("count", 0)
        longest = total.maxima.get("dur_us")
        p50, p95, p99 = histogram.percentiles(total.histogram, (50, 95, 99), ceiling=longest)
        return cls(
            endpoint=endpoint,
            requests=requests,
            errors=total.counters.get("errors", 0),
            p50=_ms(p50),
            p95=_ms(p95),
            p99=_ms(p99),
            max=_ms(longest),
            mean_queries=total.counters.get("queries", 0) / requests if requests else 0.0,
            max_queries=total.maxima.get("queries", 0),
            n_plus_one=total.counters.get("n1", 0),
            duplicates=total.counters.get("dups", 0),
        )


def endpoint_type(endpoint: str) -> str:
    """ "task", "command" or "web", from the endpoint's prefix."""
    head = endpoint.split(" ", 1)[0]
    return head if head in ("task", "command") else "web"


def endpoint_rows(
    window: Window,
    search: str = "",
    sort: str = DEFAULT_SORT,
    kind_filter: str = "",
    url_names: dict[str, str] | None = None,
    now: datetime | None = None,
) -> list[EndpointRow]:
    """Every endpoint seen in ``window``, filtered and sorted (one query, see :mod:`.totals`).

    ``search`` matches the endpoint, or its URL name when ``url_names`` (from
    :func:`perfkit.metrics.endpoints.url_names`) is given.
    """
    found = []
    needle = search.strip().lower()
    for endpoint, total in endpoint_totals(window, now).items():
        if (
            needle
            and needle not in endpoint.lower()
            and not (url_names and needle in url_name_of(endpoint, url_names).lower())
        ):
            continue
        if kind_filter and endpoint_type(endpoint) != kind_filter:
            continue
        found.append(EndpointRow.from_total(endpoint, total))
    field = sort.lstrip("-")
    if field not in SORT_FIELDS:
        field, sort = DEFAULT_SORT.lstrip("-"), DEFAULT_SORT
    descending = sort.startswith("-")
    # None (no timings) sorts last in either direction.
    present = [r for r in found if getattr(r, field) is not None]
    missing = [r for r in found if getattr(r, field) is None]
    present.sort(key=lambda r: getattr(r, field), reverse=descending)
    return present + missing


def add_sparklines(rows: list[EndpointRow], window: Window, now: datetime | None = None) -> None:
    """Draw the p95 trend of the rows a page shows (one query)."""
    buckets = [int(b.timestamp()) for b in window.buckets(window.resolution, now)]
    series = bucket_p95(ENDPOINT_KIND, window, [r.endpoint for r in rows], now)
    for row in rows:
        points = series.get(row.endpoint, {})
        trend = [_ms(points.get(b)) for b in buckets]
        row.sparkline = charts.sparkline(trend)


@dataclass
class EndpointDetail:
    """One endpoint over a window: totals, charts and the histogram."""

    row: EndpointRow
    latency_chart: SafeString
    queries_chart: SafeString
    histogram_chart: SafeString
    status_counts: dict[str, int]
    # perfkit.regressions' comparison of this release with the previous one, if any.
    release_comparison: Any = None


def endpoint_detail(window: Window, endpoint: str) -> EndpointDetail | None:
    """Figures and charts of one endpoint (one query), or None if it has no data."""
    summaries = summarize(ENDPOINT_KIND, window, [endpoint], detail=True)
    if not summaries:
        return None
    summary = summaries[0]
    buckets = window.buckets(window.detail_resolution)
    points = [summary.series.get(b) for b in buckets]
    labels = [f"{b:%Y-%m-%d %H:%M}" for b in buckets]
    step = timedelta(seconds=int(window.detail_resolution))
    starts, comparison = releases.for_endpoint(endpoint, buckets, step)
    lines = [
        charts.Series(
            f"p{q}",
            [_ms(histogram.percentile(p.histogram, q)) if p else None for p in points],
        )
        for q in (50, 95, 99)
    ]
    queries = [
        charts.Series("mean queries", [_mean(p, "queries") for p in points]),
        charts.Series("max queries", [p.maxima.get("queries") if p else None for p in points]),
    ]
    statuses = {
        name: summary.total.counters.get(name, 0)
        for name in ("s2xx", "s3xx", "s4xx", "s429", "s5xx")
    }
    row = EndpointRow.from_total(summary.key, summary.total)
    row.sparkline = charts.sparkline(lines[1].values)
    return EndpointDetail(
        row=row,
        latency_chart=charts.line_chart(lines, labels, "ms", markers=starts),
        queries_chart=charts.line_chart(queries, labels, "q", markers=starts),
        histogram_chart=charts.histogram_chart(summary.total.histogram),
        status_counts=statuses,
        release_comparison=comparison,
    )


def _mean(point: Aggregate | None, name: str) -> float | None:
    if point is None:
        return None
    count = point.counters.get("count", 0)
    return point.counters.get(name, 0) / count if count else None
