"""perfkit's own status page in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from perfkit.dashboards import DashboardAdmin
from perfkit.models import DatabaseInsights, PerfkitStatus
from perfkit.operations import dbinsights, indexhints, status


@admin.register(PerfkitStatus)
class PerfkitStatusAdmin(DashboardAdmin):
    """Recorder, errors and periodic jobs; staff with ``perfkit.view_perfkitstatus``."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self.require_view(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "perfkit status",
            "opts": self.model._meta,
            "recorder": status.recorder_figures(),
            "errors": status.error_rows(),
            "jobs": status.periodic_jobs(),
            "last_drain": status.last_drain(),
            "export_problems": status.export_problems(),
            "regression_alerts": status.regression_alerts(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/perfkit/status.html", context)


@admin.register(DatabaseInsights)
class DatabaseInsightsAdmin(DashboardAdmin):
    """Pool, top statements, index hints and N+1s; staff with ``perfkit.view_databaseinsights``."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self.require_view(request)
        aliases = dbinsights.database_aliases()
        alias = request.GET.get("db", aliases[0])
        unknown = alias not in aliases
        if unknown:
            alias = aliases[0]
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Database",
            "opts": self.model._meta,
            "aliases": aliases,
            "alias": alias,
            "unknown_alias": request.GET.get("db") if unknown else None,
            "vendor": connections[alias].vendor,
            "pool": dbinsights.pool_figures(connections[alias]),
            "n_plus_ones": dbinsights.top_n_plus_ones(),
            "index_hint_min_rows": indexhints.MIN_ROWS_PER_SCAN,
        }
        if context["vendor"] == "postgresql":
            searched = dbinsights.top_statements(alias, limit=indexhints.STATEMENTS_READ)
            context.update(
                statements=dbinsights.Section(
                    rows=searched.rows[: dbinsights.TOP_STATEMENTS],
                    unavailable=searched.unavailable,
                    hint=searched.hint,
                ),
                index_hints=indexhints.index_hints(alias, [row["query"] for row in searched.rows]),
                statements_searched=not searched.unavailable,
                unused_indexes=dbinsights.unused_indexes(alias),
                stats_since=dbinsights.stats_since(alias),
            )
        context.update(extra_context or {})
        return TemplateResponse(request, "admin/perfkit/database.html", context)
