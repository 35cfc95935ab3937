"""Admin integration: the export mixin for any ModelAdmin, and the jobs' own admin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from perfkit.conf import perfkit_settings
from perfkit.exports import api
from perfkit.exports.columns import permitted_fields
from perfkit.exports.models import ExportJob, ReportRun
from perfkit.exports.queue import REPORT_TASK, send_on_commit
from perfkit.exports.ratelimit import export_limited
from perfkit.exports.reports import registered
from perfkit.exports.storage import export_storage
from perfkit.exports.writers import WRITERS

# The pickled query and its signature: bytes for the worker, not for people.
HIDDEN = ("query", "query_signature")
UNREACHABLE = "The task queue is unreachable; the export will start when it is back."
DROPPED = "Columns left out of this export (you may not view the model they come from):"
FORMAT_LABELS = {"csv": "CSV", "jsonl": "JSON Lines", "xlsx": "Excel (XLSX)"}


class FileSizeMixin:
    """A file's size for people (``94 bytes``, ``1.2 MB``) in place of its byte count."""

    @admin.display(description="size", ordering="size")
    def file_size(self, obj: ExportJob | ReportRun) -> str:
        return "–" if obj.size is None else str(filesizeformat(obj.size))

    @staticmethod
    def readable(names: Sequence[str]) -> list[str]:
        """Field names with ``size`` shown as :meth:`file_size`."""
        return ["file_size" if name == "size" else name for name in names]


def available_formats(wanted: Sequence[str]) -> list[str]:
    """Formats that are both wanted and installed (XLSX needs the xlsx extra)."""
    found = []
    for fmt in wanted:
        writer = WRITERS.get(fmt)
        if writer is not None and writer.available():
            found.append(fmt)
    return found


class ExportAdminMixin:
    """Add "Export selected" actions and an "Export all matching" button to a ModelAdmin.

    Fields come from ``export_fields``, else the ``list_display`` entries that
    are model fields; never every concrete field (password hashes and tokens
    are concrete fields).
    """

    export_fields: Sequence[str] | None = None
    export_formats: Sequence[str] = ("csv", "jsonl", "xlsx")
    change_list_template = "admin/perfkit_exports/change_list.html"

    def get_export_fields(self, request: HttpRequest) -> list[str]:
        if self.export_fields is not None:
            return list(self.export_fields)
        model = self.model  # type: ignore[attr-defined]
        names = []
        for name in self.get_list_display(request):  # type: ignore[attr-defined]
            if not isinstance(name, str) or name == "__str__":
                continue
            try:
                field = model._meta.get_field(name)
            except Exception:
                continue
            if field.concrete and not field.many_to_many:
                names.append(name)
        return names

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        if not self._can_export(request):
            return actions
        for fmt in available_formats(self.export_formats):
            name = f"perfkit_export_{fmt}"
            actions[name] = (
                _make_action(fmt),
                name,
                f"Export selected %(verbose_name_plural)s as {FORMAT_LABELS[fmt]}",
            )
        return actions

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        view = self.admin_site.admin_view(self.export_all_view)  # type: ignore[attr-defined]
        extra = [
            path(
                "perfkit-export/",
                view,
                name=f"{opts.app_label}_{opts.model_name}_perfkit_export",
            )
        ]
        return extra + super().get_urls()  # type: ignore[misc, no-any-return]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        opts = self.model._meta  # type: ignore[attr-defined]
        context = {
            "perfkit_export_url": reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_perfkit_export"  # type: ignore[attr-defined]
            ),
            "perfkit_export_formats": [
                (fmt, FORMAT_LABELS[fmt]) for fmt in available_formats(self.export_formats)
            ]
            if self._can_export(request)
            else [],
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)  # type: ignore[misc, no-any-return]

    def _can_export(self, request: HttpRequest) -> bool:
        return bool(self.has_view_permission(request)) and request.user.has_perm(  # type: ignore[attr-defined]
            "perfkit_exports.add_exportjob"
        )

    def export_all_view(self, request: HttpRequest) -> HttpResponse:
        """POST: export everything matching the changelist's current filters and search."""
        opts = self.model._meta  # type: ignore[attr-defined]
        back = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")  # type: ignore[attr-defined]
        if request.method != "POST":
            return redirect(back)
        if not self._can_export(request):
            raise PermissionDenied
        query = request.GET.urlencode()
        target = f"{back}?{query}" if query else back
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
            queryset = changelist.get_queryset(request)
        except IncorrectLookupParameters:
            # What changelist_view does with filters it cannot apply (a stale
            # bookmark, a hand-edited URL): back to the list with ?e=1.
            self.message_user(  # type: ignore[attr-defined]
                request,
                "The current filters are not valid for this list. Nothing was exported.",
                messages.ERROR,
            )
            return redirect(f"{back}?{ERROR_FLAG}=1")
        self.perfkit_start_export(request, queryset, request.POST.get("format", ""))
        return redirect(target)

    def perfkit_start_export(
        self, request: HttpRequest, queryset: models.QuerySet[Any], fmt: str
    ) -> ExportJob | None:
        """Validate, rate limit and start an export; tells the user with a message."""
        if fmt not in available_formats(self.export_formats):
            self.message_user(  # type: ignore[attr-defined]
                request, f"Unknown export format {fmt!r}.", messages.ERROR
            )
            return None
        if export_limited(request):
            self.message_user(  # type: ignore[attr-defined]
                request,
                "You have started too many exports recently "
                f"(limit {perfkit_settings.EXPORTS_RATE_LIMIT}); try again later.",
                messages.ERROR,
            )
            return None
        fields = self.get_export_fields(request)
        dropped: list[str] = []
        if perfkit_settings.EXPORTS_CHECK_FIELD_PERMISSIONS:
            fields, dropped = permitted_fields(request.user, queryset.model, fields)
            if dropped and not fields:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    f"{DROPPED} {', '.join(dropped)}. No column is left. Nothing was exported.",
                    messages.ERROR,
                )
                return None
        try:
            job = api.start(queryset, fields, fmt, owner=request.user, dropped_fields=dropped)
        except api.ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)  # type: ignore[attr-defined]
            return None
        if dropped:
            self.message_user(  # type: ignore[attr-defined]
                request, f"{DROPPED} {', '.join(dropped)}.", messages.WARNING
            )
        url = reverse("admin:perfkit_exports_exportjob_change", args=[job.pk])
        if job.queued is False:
            self.message_user(  # type: ignore[attr-defined]
                request,
                format_html('{} <a href="{}">Follow its progress</a>.', UNREACHABLE, url),
                messages.WARNING,
            )
            return job
        self.message_user(  # type: ignore[attr-defined]
            request,
            format_html(
                'Export started in the background. <a href="{}">Follow its progress</a>.', url
            ),
            messages.SUCCESS,
        )
        return job


def _make_action(fmt: str) -> Any:
    def action(modeladmin: Any, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        modeladmin.perfkit_start_export(request, queryset, fmt)

    action.__name__ = f"perfkit_export_{fmt}"
    return action


@admin.register(ExportJob)
class ExportJobAdmin(FileSizeMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Jobs: owners see theirs; ``view_all_exports`` sees everyone's."""

    list_display = (
        "created_at",
        "model_label",
        "format",
        "status",
        "rows_done",
        "owner",
        "file_size",
    )
    list_filter = ("status", "format", "model_label")
    search_fields = ("model_label", "owner__username", "error")
    date_hierarchy = "created_at"
    change_form_template = "admin/perfkit_exports/exportjob_change.html"
    exclude = (*HIDDEN, "size")
    actions = ["cancel_jobs", "retry_jobs"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readable([f.name for f in ExportJob._meta.fields if f.name not in HIDDEN])

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[ExportJob]:
        queryset = super().get_queryset(request).select_related("owner").defer(*HIDDEN)
        if request.user.has_perm("perfkit_exports.view_all_exports"):
            return queryset
        return queryset.filter(owner_id=request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Users who may export see their own jobs; get_queryset narrows the rest."""
        user = request.user
        return user.has_perm("perfkit_exports.view_exportjob") or user.has_perm(
            "perfkit_exports.add_exportjob"
        )

    @admin.action(description="Cancel selected exports")
    def cancel_jobs(self, request: HttpRequest, queryset: models.QuerySet[ExportJob]) -> None:
        cancelled = sum(api.cancel(job) for job in queryset)
        self.message_user(request, f"Cancelled {cancelled} export(s).")

    @admin.action(description="Retry selected exports")
    def retry_jobs(self, request: HttpRequest, queryset: models.QuerySet[ExportJob]) -> None:
        retried = [job for job in queryset if api.retry(job)]
        self.message_user(request, f"Retried {len(retried)} export(s).")
        if any(job.queued is False for job in retried):
            self.message_user(request, UNREACHABLE, messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<uuid:job_id>/download/",
                wrap(self.download_view),
                name="perfkit_exports_exportjob_download",
            ),
            path(
                "<uuid:job_id>/progress/",
                wrap(self.progress_view),
                name="perfkit_exports_exportjob_progress",
            ),
            path(
                "<uuid:job_id>/cancel/",
                wrap(self.cancel_view),
                name="perfkit_exports_exportjob_cancel",
            ),
            path(
                "<uuid:job_id>/retry/",
                wrap(self.retry_view),
                name="perfkit_exports_exportjob_retry",
            ),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, job_id: Any) -> ExportJob:
        """The job if the user may see it; 404 otherwise (never reveal others' jobs)."""
        job = self.get_queryset(request).filter(pk=job_id).first()
        if job is None:
            raise Http404("No such export.")
        return job

    def download_view(self, request: HttpRequest, job_id: Any) -> FileResponse:
        job = self._job(request, job_id)
        if job.status != ExportJob.Status.SUCCEEDED or not job.file:
            raise Http404("This export has no file (yet, or any more).")
        try:
            handle = export_storage().open(job.file, "rb")
        except FileNotFoundError as exc:
            raise Http404("The export file was removed.") from exc
        return FileResponse(handle, as_attachment=True, filename=job.download_name)

    def progress_view(self, request: HttpRequest, job_id: Any) -> JsonResponse:
        job = self._job(request, job_id)
        return JsonResponse(
            {
                "status": job.status,
                "rows_done": job.rows_done,
                "rows_total": job.rows_total,
                "percent": job.progress_percent,
                "finished": job.is_finished,
                "error": job.error,
                "stalled_seconds": job.stalled_seconds,
            }
        )

    def cancel_view(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        if request.method == "POST":
            done = api.cancel(job)
            self.message_user(request, "Export cancelled." if done else "Nothing to cancel.")
        return redirect("admin:perfkit_exports_exportjob_change", job.pk)

    def retry_view(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        if request.method == "POST":
            if export_limited(request):
                self.message_user(request, "Too many exports recently; try later.", messages.ERROR)
            elif api.retry(job):
                if job.queued is False:
                    self.message_user(request, UNREACHABLE, messages.WARNING)
                else:
                    self.message_user(request, "Export queued again.")
            else:
                self.message_user(request, "Only failed or cancelled exports can be retried.")
        return redirect("admin:perfkit_exports_exportjob_change", job.pk)


@admin.register(ReportRun)
class ReportRunAdmin(FileSizeMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Report runs and their files; the "Reports" page runs a report now."""

    list_display = (
        "created_at",
        "report",
        "format",
        "status",
        "rows",
        "file_size",
        "emailed_to",
        "download_link",
    )
    list_filter = ("report", "status", "format")
    date_hierarchy = "created_at"
    change_list_template = "admin/perfkit_exports/reportrun_change_list.html"
    exclude = ("size",)  # shown as file_size

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readable([f.name for f in ReportRun._meta.fields]), "download_link"]

    @admin.display(description="File")
    def download_link(self, run: ReportRun) -> str:
        """A link to the permission-checked download view, for runs that have a file."""
        if run.status != ReportRun.Status.SUCCEEDED or not run.file:
            return "–"
        url = reverse(f"{self.admin_site.name}:perfkit_exports_reportrun_download", args=[run.pk])
        return format_html(
            '<a class="perfkit-report-download" href="{}" download>Download {}</a>',
            url,
            run.download_name,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<uuid:run_id>/download/",
                wrap(self.download_view),
                name="perfkit_exports_reportrun_download",
            ),
            path("run-now/", wrap(self.run_now_view), name="perfkit_exports_reportrun_run_now"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "perfkit_reports": sorted(registered().values(), key=lambda r: r.name),
            "perfkit_can_run": self._can_run(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def _can_run(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("perfkit_exports.add_reportrun"))

    def download_view(self, request: HttpRequest, run_id: Any) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = ReportRun.objects.filter(pk=run_id, status=ReportRun.Status.SUCCEEDED).first()
        if run is None or not run.file:
            raise Http404("No such report file.")
        try:
            handle = export_storage().open(run.file, "rb")
        except FileNotFoundError as exc:
            raise Http404("The report file was removed.") from exc
        return FileResponse(handle, as_attachment=True, filename=run.download_name)

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        back = reverse("admin:perfkit_exports_reportrun_changelist")
        if request.method != "POST":
            return redirect(back)
        if not self._can_run(request):
            raise PermissionDenied
        name = request.POST.get("report", "")
        if name not in registered():
            self.message_user(request, f"Unknown report {name!r}.", messages.ERROR)
        elif export_limited(request):
            self.message_user(
                request, "Too many exports or reports recently; try later.", messages.ERROR
            )
        else:
            sending = send_on_commit(REPORT_TASK, [name, request.user.pk])
            if sending.sent is False:
                # Nothing to re-send later: the run is created by the task itself.
                self.message_user(
                    request,
                    f"The task queue is unreachable; report {name!r} was not queued. "
                    "Try again once it is back.",
                    messages.ERROR,
                )
            else:
                self.message_user(request, f"Report {name!r} queued; its run appears below.")
        return redirect(back)
