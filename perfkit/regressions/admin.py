"""The "Regressions" admin page: open regressions, acknowledged ones, recent resolutions.

Seeing it takes ``perfkit_regressions.view_regression``; acknowledging (a
CSRF-protected POST) takes ``perfkit_regressions.change_regression``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from perfkit.conf import perfkit_settings
from perfkit.regressions import api
from perfkit.regressions.models import Metric, Regression, Release

RESOLVED_DAYS = 7
SHOWN = 200


@dataclass
class Row:
    regression: Regression
    endpoint_url: str

    @property
    def unit(self) -> str:
        return "ms" if self.regression.metric == Metric.P95 else "queries/request"


@admin.register(Regression)
class RegressionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A page, not a changelist; its permissions are the model's own."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A regression's own page shows it; only acknowledging changes it.
        return [field.name for field in Regression._meta.fields]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only: no Save buttons, and the title says so.
        extra = {
            "title": f"View {self.opts.verbose_name}",
            "show_save": False,
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        acknowledge = path(
            "acknowledge/",
            self.admin_site.admin_view(require_POST(self.acknowledge_view)),
            name="perfkit_regressions_regression_acknowledge",
        )
        return [acknowledge, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        using = perfkit_settings.DATABASE_ALIAS
        search = request.GET.get("q", "")[:300]
        regressions = Regression.objects.using(using)
        if search:
            regressions = regressions.filter(endpoint__icontains=search)
        open_ones = regressions.filter(resolved_at=None).order_by("-opened_at")
        since = datetime.now(tz=UTC) - timedelta(days=RESOLVED_DAYS)
        current, previous = api.current_and_previous()
        context = {
            **self.admin_site.each_context(request),
            "title": "Regressions",
            "opts": self.model._meta,
            "search": search,
            "open_rows": self._rows(open_ones.filter(acknowledged_at=None)[:SHOWN]),
            "acknowledged_rows": self._rows(open_ones.exclude(acknowledged_at=None)[:SHOWN]),
            "resolved_rows": self._rows(
                regressions.filter(resolved_at__gte=since).order_by("-resolved_at")[:SHOWN]
            ),
            "resolved_days": RESOLVED_DAYS,
            "can_acknowledge": self.has_change_permission(request),
            "releases": Release.objects.using(using).order_by("-started_at")[:10],
            "current": current,
            "previous": previous,
            "baseline": perfkit_settings.REGRESSIONS_BASELINE,
            "window_minutes": perfkit_settings.REGRESSIONS_WINDOW_MINUTES,
            "pending_alerts": api.pending_alerts(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/perfkit_regressions/regressions.html", context)

    def _rows(self, regressions: Any) -> list[Row]:
        try:
            detail = reverse(f"{self.admin_site.name}:perfkit_metrics_endpointstats_endpoint")
        except NoReverseMatch:  # perfkit.metrics not installed
            detail = ""
        return [
            Row(r, f"{detail}?{urlencode({'key': r.endpoint})}" if detail else "")
            for r in regressions
        ]

    def acknowledge_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = [int(v) for v in request.POST.getlist("regression") if v.isdigit()]
        user = request.user.get_username() if request.user.is_authenticated else ""
        done = api.acknowledge(ids, user) if ids else 0
        self.message_user(
            request,
            f"Acknowledged {done} regression{'s' if done != 1 else ''}: no more reminders.",
            messages.SUCCESS if done else messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:perfkit_regressions_regression_changelist")
        )
