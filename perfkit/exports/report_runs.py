"""Running reports: files published like exports, emailed to their recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ReportRun
from perfkit.exports.reports import is_due, registered, write_report
from perfkit.exports.storage import export_storage, publish

Status = ReportRun.Status


def run_report(
    name: str, *, scheduled_for: datetime | None = None, user: Any = None
) -> list[ReportRun]:
    """Run report ``name`` once per format; a failing report fails only its own runs."""
    report = registered().get(name)
    if report is None:
        raise KeyError(f"No report named {name!r}")
    runs = []
    for fmt in report.formats:
        try:
            with transaction.atomic(using=perfkit_settings.DATABASE_ALIAS):
                run = ReportRun.objects.using(perfkit_settings.DATABASE_ALIAS).create(
                    report=name,
                    format=fmt,
                    scheduled_for=scheduled_for,
                    requested_by=user if getattr(user, "pk", None) else None,
                )
        except IntegrityError:
            continue  # this scheduled minute already ran
        local = None
        try:
            local, count = write_report(report, fmt)
            run.file = publish(local, f"reports/{run.pk}", run.download_name)
            run.size, run.rows, run.status = local.stat().st_size, count, Status.SUCCEEDED
        except Exception as exc:
            run.status, run.error = Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            if local is not None:
                local.unlink(missing_ok=True)
        run.finished_at = timezone.now()
        run.save()
        if run.status == Status.SUCCEEDED and report.recipients:
            email_run(run, list(report.recipients), report.title or name)
        runs.append(run)
    return runs


def email_run(run: ReportRun, recipients: list[str], title: str) -> None:
    """Attach the file below ``EXPORTS_EMAIL_ATTACH_MAX_BYTES``, else link to it."""
    body = f"{title}: {run.rows} rows, generated {run.finished_at:%Y-%m-%d %H:%M %Z}.\n"
    message = EmailMessage(
        subject=f"[perfkit] {title}",
        body=body,
        to=recipients,
        from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None),
    )
    if (run.size or 0) <= perfkit_settings.EXPORTS_EMAIL_ATTACH_MAX_BYTES:
        with export_storage().open(run.file, "rb") as handle:
            message.attach(run.download_name, handle.read())
    else:
        base = perfkit_settings.EXPORTS_BASE_URL.rstrip("/")
        path = reverse("admin:perfkit_exports_reportrun_download", args=[run.pk])
        message.body += f"\nThe file is too large to attach; download it at {base}{path}\n"
    try:
        message.send()
    except Exception as exc:
        run.error = f"Email failed: {type(exc).__name__}: {exc}"[:2000]
    else:
        run.emailed_to = ", ".join(recipients)
    run.save(update_fields=["error", "emailed_to"])


def run_due_reports(now: datetime | None = None) -> list[str]:
    """Run every registered report whose schedule fires this minute."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    due = [
        name
        for name, report in registered().items()
        if report.schedule and is_due(report.schedule, now)
    ]
    for name in due:
        run_report(name, scheduled_for=now)
    return due
