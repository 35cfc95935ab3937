"""The "Cache hit rates" admin page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from perfkit.cache import dashboard
from perfkit.cache.models import CacheStats
from perfkit.cache.versions import pending_bumps
from perfkit.dashboards import DashboardAdmin
from perfkit.recording import errors
from perfkit.recording.query import DEFAULT_WINDOW, WINDOWS


@admin.register(CacheStats)
class CacheStatsAdmin(DashboardAdmin):
    """Read-only; visible to staff with ``perfkit_cache.view_cachestats``."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self.require_view(request)
        window = WINDOWS.get(request.GET.get("window", ""), WINDOWS[DEFAULT_WINDOW])
        process_errors = {
            name: stat for name, stat in errors.snapshot().items() if name.startswith("cache")
        }
        context = {
            **self.admin_site.each_context(request),
            "title": "Cache hit rates",
            "opts": self.model._meta,
            "window": window,
            "windows": WINDOWS.values(),
            "rows": dashboard.label_rows(window),
            "chart": dashboard.ratio_chart(window),
            "redis": dashboard.redis_figures(),
            "process_errors": process_errors,
            "pending_bumps": sorted(pending_bumps()),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/perfkit_cache/hit_rates.html", context)
