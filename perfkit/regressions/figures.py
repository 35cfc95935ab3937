"""An endpoint's figures over a range of time, from its merged rollups."""

from __future__ import annotations

from dataclasses import dataclass

from perfkit.recording import histogram
from perfkit.recording.buffer import Aggregate

# The rollup kind perfkit.metrics records requests, tasks and commands under
# (a string, not an import: this app works without perfkit.metrics' internals).
ENDPOINT_KIND = "endpoint"


@dataclass(frozen=True)
class Figures:
    """Requests, latency percentiles (ms), queries per request and shares (0-1)."""

    requests: int
    p50_ms: float | None
    p95_ms: float | None
    queries_per_request: float | None
    n_plus_one_share: float | None
    error_share: float | None

    @classmethod
    def of(cls, total: Aggregate | None) -> Figures:
        counters = total.counters if total else {}
        requests = counters.get("count", 0)
        if total is None or not requests:
            return cls(0, None, None, None, None, None)
        longest = total.maxima.get("dur_us")
        p50, p95 = histogram.percentiles(total.histogram, (50, 95), ceiling=longest)
        # N+1 is only looked for in requests captured in detail (METRICS_SAMPLE_RATE).
        detailed = counters.get("detailed", requests) or requests
        return cls(
            requests=requests,
            p50_ms=None if p50 is None else p50 / 1000,
            p95_ms=None if p95 is None else p95 / 1000,
            queries_per_request=counters.get("queries", 0) / requests,
            n_plus_one_share=counters.get("n1", 0) / detailed,
            error_share=counters.get("errors", 0) / requests,
        )

    def value(self, metric: str) -> float | None:
        """The figure a regression metric ("p95", "queries") is about."""
        return self.p95_ms if metric == "p95" else self.queries_per_request
