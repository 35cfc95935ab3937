"""One recorded unit of work: a request, a Celery task run or a command.

A :class:`Run` pushes a :class:`~perfkit.capture.Capture` as the
context's query observer, and at the end turns it into counters of the
endpoint (through core's pipeline), a slow sample when warranted, and a log
line when the query budget is exceeded or an N+1 was found.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from perfkit import observe
from perfkit.capture import Capture, FingerprintStat
from perfkit.conf import perfkit_settings
from perfkit.metrics import samples, waterfall
from perfkit.metrics.fixhints import capture_hints
from perfkit.metrics.outcome import Outcome
from perfkit.operations.dbinsights import N_PLUS_ONE_KIND, n_plus_one_key, short_path
from perfkit.recording import errors, scope
from perfkit.recording.pipeline import record

logger = logging.getLogger("perfkit.metrics")

ENDPOINT_KIND = "endpoint"


class Run:
    """Observe SQL from :meth:`start` to :meth:`finish` and record the result."""

    def __init__(self) -> None:
        rate = perfkit_settings.METRICS_SAMPLE_RATE
        detailed = rate >= 1.0 or random.random() < rate
        self.capture = Capture(
            detailed=detailed,
            threshold=perfkit_settings.METRICS_N_PLUS_ONE_THRESHOLD,
            keep_params=perfkit_settings.METRICS_CAPTURE_PARAMS,
            timeline_limit=waterfall.MAX_SPANS if detailed else 0,
        )
        self.started = time.perf_counter()
        self.finished = False
        self.counters = scope.begin()  # other apps' per-run counters (cache hits...)
        observe.push(self.capture)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def stop_observing(self) -> None:
        observe.remove(self.capture)

    def finish(self, outcome: Outcome) -> None:
        """Stop observing and record; never raises."""
        if self.finished:
            return
        self.finished = True
        duration = self.elapsed
        self.stop_observing()
        scope.end(self.counters)
        try:
            self._record(outcome, duration)
        except Exception as exc:
            errors.report("metrics recording", exc)

    def _record(self, outcome: Outcome, duration: float) -> None:
        capture = self.capture
        duration_us = int(duration * 1_000_000)
        n_plus_one = capture.n_plus_one
        counters: dict[str, int] = {
            "count": 1,
            "errors": int(outcome.error or outcome.status >= 500),
            status_class(outcome.status, outcome.error): 1,
            "dur_us": duration_us,
            "db_us": int(capture.db_time * 1_000_000),
            "queries": capture.queries,
            "dups": capture.duplicates,
            "n1": int(bool(n_plus_one)),
            "detailed": int(capture.detailed),
        }
        for alias, (count, seconds) in capture.by_alias.items():
            counters[f"queries@{alias}"] = int(count)
            counters[f"db_us@{alias}"] = int(seconds * 1_000_000)
        record(
            ENDPOINT_KIND,
            outcome.endpoint,
            counters,
            {"dur_us": duration_us, "queries": capture.queries},
            duration_us,
        )
        for stat in n_plus_one[:MAX_N_PLUS_ONE_RECORDED]:
            record(N_PLUS_ONE_KIND, _n_plus_one_key(stat), {"runs": 1, "queries": stat.count})
        budget = perfkit_settings.METRICS_QUERY_BUDGET
        over_budget = budget is not None and capture.queries > budget
        if (over_budget or n_plus_one) and _should_log(outcome.endpoint):
            _log_problems(outcome, capture, over_budget, budget)
        samples.offer(outcome, capture, duration, self.cache_events())

    def cache_events(self) -> dict[str, int]:
        """perfkit.cache's hits, misses... in this run (empty without perfkit.cache)."""
        return {
            name.removeprefix("cache_"): value
            for name, value in self.counters.items()
            if name.startswith("cache_")
        }


MAX_N_PLUS_ONE_RECORDED = 5


def _n_plus_one_key(stat: FingerprintStat) -> str:
    site = stat.site
    where = f"{short_path(site.filename)}:{site.lineno} in {site.function}" if site else "?"
    return n_plus_one_key(where, stat.sql)


LOG_EVERY_SECONDS = 60.0
_last_logged: dict[str, float] = {}


def _should_log(endpoint: str) -> bool:
    """At most one problem line per endpoint and minute: production logs stay readable."""
    now = time.monotonic()
    last = _last_logged.get(endpoint)
    if last is not None and now - last < LOG_EVERY_SECONDS:
        return False
    if len(_last_logged) > 10_000:
        _last_logged.clear()
    _last_logged[endpoint] = now
    return True


def reset_log_limits() -> None:
    """Forget when each endpoint was last logged (tests)."""
    _last_logged.clear()


def status_class(status: int, error: bool) -> str:
    """Counter name of a response status: s2xx, s3xx, s4xx, s429 or s5xx."""
    if error or status >= 500:
        return "s5xx"
    if status == 429:
        return "s429"
    return f"s{min(max(status // 100, 1), 5)}xx"


def _log_problems(
    outcome: Outcome, capture: Capture, over_budget: bool, budget: int | None
) -> None:
    lines = []
    hints = capture_hints(capture) if capture.n_plus_one else {}
    for stat in capture.repeated[:5]:
        where = f" at {stat.site}" if stat.site else ""
        fix = f" (fix: {hints[stat.sql]})" if stat.sql in hints else ""
        lines.append(f"  {stat.count}x{where}{fix}: {stat.sql[:300]}")
    reasons = []
    if over_budget:
        reasons.append(f"{capture.queries} queries (budget {budget})")
    if capture.n_plus_one:
        reasons.append(f"N+1 ({len(capture.n_plus_one)} repeated statements)")
    details: dict[str, Any] = {"endpoint": outcome.endpoint, "queries": capture.queries}
    logger.warning(
        "%s: %s\n%s", outcome.endpoint, ", ".join(reasons), "\n".join(lines), extra=details
    )
