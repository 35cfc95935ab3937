"""Periodic upkeep of exports: dead workers and old files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob, ReportRun
from perfkit.exports.queue import enqueue
from perfkit.exports.storage import delete_file, export_storage, list_files

Status = ExportJob.Status


def reap_stale(now: Any = None) -> dict[str, int]:
    """Re-queue (or fail) running jobs whose worker stopped writing heartbeats.

    The broker does not help here: Redis redelivers an unacknowledged message
    only after its visibility timeout, an hour by default.
    """
    now = now or timezone.now()
    jobs = ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
    stale = jobs.filter(
        status=Status.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=perfkit_settings.EXPORTS_STALE_SECONDS),
    )
    requeued = failed = 0
    for job in stale:
        if job.attempts >= perfkit_settings.EXPORTS_MAX_ATTEMPTS:
            failed += jobs.filter(pk=job.pk, status=Status.RUNNING).update(
                status=Status.FAILED,
                finished_at=now,
                error=(
                    f"The worker running this export stopped (no heartbeat since "
                    f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}) after {job.attempts} attempt(s). "
                    "Retry it, or check the worker's logs (memory, time limits)."
                ),
            )
        elif jobs.filter(pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=Status.PENDING
        ):
            requeued += 1
            enqueue(job)
    return {"requeued": requeued, "failed": failed}


def purge_old_files(now: Any = None) -> int:
    """Delete files of export jobs and report runs older than ``EXPORTS_RETENTION_DAYS``,
    and orphaned files."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=perfkit_settings.EXPORTS_RETENTION_DAYS)
    deleted = 0
    named: set[str] = set()
    for model in (ExportJob, ReportRun):
        rows = model.objects.using(perfkit_settings.DATABASE_ALIAS)
        for row in rows.filter(created_at__lt=cutoff).exclude(file=""):
            delete_file(row.file)
            rows.filter(pk=row.pk).update(file="", size=None)
            deleted += 1
        named |= set(rows.exclude(file="").values_list("file", flat=True))
    # Files no job or run names (a save cut short, a job deleted): remove
    # those older than a day, so a save in progress is never touched.
    storage = export_storage()
    for name in list_files():
        if name in named:
            continue
        try:
            modified = storage.get_modified_time(name)
        except (NotImplementedError, OSError):
            continue
        if modified < now - timedelta(days=1):
            delete_file(name)
            deleted += 1
    return deleted
