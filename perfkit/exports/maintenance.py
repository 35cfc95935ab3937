"""Periodic upkeep of exports: dead workers, unsent jobs and old files."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob, ReportRun
from perfkit.exports.queue import enqueue
from perfkit.exports.storage import delete_file, export_storage, list_files

Status = ExportJob.Status
logger = logging.getLogger(__name__)


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
            status=Status.PENDING, sent_at=None
        ):
            requeued += 1
            enqueue(job)  # if the broker is down, resend_pending() sends it later
    return {"requeued": requeued, "failed": failed}


def resend_pending(now: Any = None) -> int:
    """Send again the pending jobs nobody picked up; returns how many were sent.

    A job is pending without a message when its send failed (the broker was
    down when it was created, retried or re-queued) or the process stopped
    between the commit and the send; its message can also be lost by the
    broker. So a pending job whose task last reached the broker (or, never
    sent, that was created) more than ``EXPORTS_PENDING_RESEND_SECONDS`` ago
    is sent again. A duplicate message is harmless: a job is claimed once.
    Stops at the first failed send: the broker is still down.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=perfkit_settings.EXPORTS_PENDING_RESEND_SECONDS)
    jobs = ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
    waiting = jobs.filter(
        Q(sent_at__isnull=True, created_at__lt=cutoff) | Q(sent_at__lt=cutoff),
        status=Status.PENDING,
    ).order_by("created_at")
    sent = 0
    for job in waiting.only("pk"):
        sending = enqueue(job)
        if sending.sent is False:
            logger.warning(
                "The task queue is unreachable; %d pending export(s) wait", waiting.count()
            )
            break
        sent += 1
    return sent


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
