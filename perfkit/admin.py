"""perfkit's own status page in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from perfkit import status
from perfkit.dashboards import DashboardAdmin
from perfkit.models import PerfkitStatus


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
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/perfkit/status.html", context)
