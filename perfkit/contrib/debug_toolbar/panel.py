# django-debug-toolbar's Panel methods are untyped.
# mypy: disable-error-code="no-untyped-call"
"""A django-debug-toolbar panel: this request's duplicates, N+1s, query budget and cache.

Add ``"perfkit.contrib.debug_toolbar.panel.PerfkitPanel"`` to ``DEBUG_TOOLBAR_PANELS``
and ``"perfkit.contrib.debug_toolbar"`` to ``INSTALLED_APPS`` (for its template).
"""

from __future__ import annotations

from typing import Any

from debug_toolbar.panels import Panel
from django.http import HttpRequest, HttpResponse

from perfkit import observe
from perfkit.cache import stats as cache_stats
from perfkit.capture import Capture
from perfkit.conf import perfkit_settings
from perfkit.metrics.fixhints import capture_hints
from perfkit.recording import scope


class PerfkitPanel(Panel):
    """What perfkit saw in this request, with the call sites of repeated queries."""

    title = "perfkit"
    template = "perfkit/debug_toolbar/panel.html"

    def process_request(self, request: HttpRequest) -> HttpResponse:
        self._capture = Capture(
            detailed=True, threshold=perfkit_settings.METRICS_N_PLUS_ONE_THRESHOLD
        )
        own_scope = None if scope.is_open() else scope.begin()
        try:
            with observe.observing(self._capture):
                response: HttpResponse = super().process_request(request)
            counters = scope.current()
            self._cache = cache_stats.totals(counters)
            self._cache_labels = cache_stats.by_label(counters)
        finally:
            if own_scope is not None:
                scope.end(own_scope)
        return response

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        capture = self._capture
        budget = perfkit_settings.METRICS_QUERY_BUDGET
        hints = capture_hints(capture)
        self.record_stats(
            {
                "queries": capture.queries,
                "db_ms": round(capture.db_time * 1000, 2),
                "duplicates": capture.duplicates,
                "budget": budget,
                "over_budget": budget is not None and capture.queries > budget,
                "n_plus_one": len(capture.n_plus_one),
                "repeated": [
                    {
                        "sql": stat.sql[: perfkit_settings.METRICS_SAMPLE_SQL_CHARS],
                        "count": stat.count,
                        "duplicates": stat.duplicates,
                        "n_plus_one": stat.count >= capture.threshold,
                        "site": str(stat.site) if stat.site else "",
                        "fix": str(hints[stat.sql]) if stat.sql in hints else "",
                    }
                    for stat in capture.repeated
                ],
                "cache": dict(getattr(self, "_cache", {})),
                "cache_labels": dict(getattr(self, "_cache_labels", {})),
            }
        )

    @property
    def nav_subtitle(self) -> str:
        stats: dict[str, Any] = self.get_stats()
        if not stats:
            return ""
        return f"{stats['queries']} queries, {stats['duplicates']} dup, {stats['n_plus_one']} N+1"
