"""The "Slow endpoints" admin pages, hung on the EndpointStats proxy model."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode

from perfkit.conf import perfkit_settings
from perfkit.dashboards import DashboardAdmin
from perfkit.metrics import dashboard, sample_page, waterfall
from perfkit.metrics.endpoints import url_name_of, url_names
from perfkit.metrics.models import EndpointStats, SlowRequest
from perfkit.recording import clean
from perfkit.recording.query import DEFAULT_WINDOW, WINDOWS

PER_PAGE = 100
SAMPLES_ON_DETAIL = 20


@admin.register(EndpointStats)
class EndpointStatsAdmin(DashboardAdmin):
    """Read-only dashboard; visible to staff with ``perfkit_metrics.view_endpointstats``."""

    def get_urls(self) -> list[URLPattern]:
        detail = path(
            "endpoint/",
            self.admin_site.admin_view(self.endpoint_view),
            name="perfkit_metrics_endpointstats_endpoint",
        )
        return [detail, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self.require_view(request)
        window = WINDOWS.get(request.GET.get("window", ""), WINDOWS[DEFAULT_WINDOW])
        search = request.GET.get("q", "")[:200]
        sort = request.GET.get("o", dashboard.DEFAULT_SORT)
        kind = request.GET.get("type", "")
        kind = kind if kind in dashboard.TYPES else ""
        names = url_names()
        rows = dashboard.endpoint_rows(window, search, sort, kind, names)
        page = Paginator(rows, PER_PAGE).get_page(request.GET.get("p"))
        dashboard.add_sparklines(list(page.object_list), window)
        for row in page.object_list:
            row.url_name = url_name_of(row.endpoint, names)
        base = {"window": window.name, "q": search, "type": kind}
        detail_url = reverse(f"{self.admin_site.name}:perfkit_metrics_endpointstats_endpoint")
        context = {
            **self.admin_site.each_context(request),
            "title": "Slow endpoints",
            "opts": self.model._meta,
            "window": window,
            "windows": WINDOWS.values(),
            "search": search,
            "sort": sort if sort.lstrip("-") in dashboard.SORT_FIELDS else dashboard.DEFAULT_SORT,
            "kind": kind,
            "types": dashboard.TYPES,
            "page": page,
            "rows": [
                (row, f"{detail_url}?{urlencode({'key': row.endpoint, 'window': window.name})}")
                for row in page.object_list
            ],
            "columns": _columns(sort, base),
            "query": urlencode({**base, "o": sort}),
            "slow_ms": perfkit_settings.METRICS_SLOW_MS,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/perfkit_metrics/endpoints.html", context)

    def endpoint_view(self, request: HttpRequest) -> HttpResponse:
        self.require_view(request)
        key = request.GET.get("key", "")[: clean.LABEL_MAX]
        window = WINDOWS.get(request.GET.get("window", ""), WINDOWS[DEFAULT_WINDOW])
        detail = dashboard.endpoint_detail(window, key) if key else None
        # Samples hold paths, user ids and SQL: they need their own permission.
        can_view_samples = may_view_samples(request)
        samples = (
            SlowRequest.objects.using(perfkit_settings.DATABASE_ALIAS)
            .filter(endpoint=clean.key_of(key))
            .order_by("-created_at")[:SAMPLES_ON_DETAIL]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": key or "Endpoint",
            "opts": self.model._meta,
            "key": key,
            "url_name": url_name_of(key, url_names()),
            "window": window,
            "windows": WINDOWS.values(),
            "detail": detail,
            "samples": list(samples) if key and can_view_samples else [],
            "can_view_samples": can_view_samples,
        }
        status = 200 if detail is not None else 404
        return TemplateResponse(
            request, "admin/perfkit_metrics/endpoint_detail.html", context, status=status
        )


def may_view_samples(request: HttpRequest) -> bool:
    """Whether the user may see slow samples (``perfkit_metrics.view_slowrequest``)."""
    opts = SlowRequest._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


COLUMNS = (
    ("endpoint", "Endpoint"),
    ("requests", "Requests"),
    ("p50", "p50 (ms)"),
    ("p95", "p95 (ms)"),
    ("p99", "p99 (ms)"),
    ("max", "Max (ms)"),
    ("error_rate", "Errors"),
    ("mean_queries", "Queries (mean)"),
    ("max_queries", "Queries (max)"),
)


def _columns(sort: str, base: dict[str, str]) -> list[dict[str, Any]]:
    """Header cells with the link that sorts by them (toggling direction)."""
    current = sort.lstrip("-")
    descending = sort.startswith("-")
    columns = []
    for field, label in COLUMNS:
        active = field == current
        next_sort = field if active and descending else f"-{field}"
        columns.append(
            {
                "label": label,
                "url": "?" + urlencode({**base, "o": next_sort}),
                "active": active,
                "descending": descending,
            }
        )
    return columns


@admin.register(SlowRequest)
class SlowRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Slow samples: read-only, deletable (they hold paths and user ids)."""

    list_display = ("created_at", "endpoint", "duration_ms", "queries", "n_plus_one", "status")
    list_filter = ("n_plus_one", "error", "status")
    search_fields = ("endpoint", "path")
    date_hierarchy = "created_at"
    # Repeated statements, cache lookups and the waterfall's timeline are drawn by the
    # page's template, not printed as JSON.
    fields = readonly_fields = tuple(
        f.name
        for f in SlowRequest._meta.fields
        if f.name not in {"id", "repeated", "cache", "timeline"}
    )

    def get_urls(self) -> list[URLPattern]:
        explain = path(
            "<path:object_id>/explain/<str:part>/<int:index>/",
            self.admin_site.admin_view(self.explain_view),
            name="perfkit_metrics_slowrequest_explain",
        )
        return [explain, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        sample = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if sample is not None:
            extra["statements"] = sample_page.statement_rows(sample, request, self.admin_site.name)
            extra["cache_figures"] = sample_page.cache_figures(sample)
            extra["may_explain"] = sample_page.may_explain(request)
            threshold = perfkit_settings.METRICS_N_PLUS_ONE_THRESHOLD
            extra["n_plus_one_threshold"] = threshold
            extra["waterfall"] = waterfall.chart(sample.timeline, sample.duration_ms, threshold)
            extra["shapes"] = sample_page.statement_rows(
                sample, request, self.admin_site.name, "timeline"
            )
        return super().change_view(request, object_id, form_url, extra)

    def explain_view(
        self, request: HttpRequest, object_id: str, part: str, index: int
    ) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta}
        return sample_page.explain_view(request, object_id, part, index, context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
