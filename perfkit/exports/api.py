"""Starting, cancelling and retrying exports (what the admin, commands and tasks call)."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports import signing
from perfkit.exports.columns import resolve_columns
from perfkit.exports.models import STALL_HEARTBEATS, ExportJob
from perfkit.exports.queue import enqueue
from perfkit.exports.writers import get_writer

Status = ExportJob.Status


class ExportError(ValueError):
    """Bad export input; its message is meant for the user."""


def start(
    queryset: models.QuerySet[Any],
    fields: Sequence[str],
    fmt: str,
    owner: Any = None,
    dropped_fields: Sequence[str] = (),
) -> ExportJob:
    """Create a job exporting ``fields`` of ``queryset`` as ``fmt``; enqueued on commit.

    ``dropped_fields`` are columns the caller left out (shown on the job
    page); see ``perfkit.exports.columns.permitted_fields``.

    ``job.queued`` tells whether the task reached the broker (``None`` until
    the transaction commits); a job whose send failed stays pending and is
    re-sent by the reaper.
    """
    try:
        get_writer(fmt)
        resolve_columns(queryset.model, list(fields))
    except ValueError as exc:
        raise ExportError(str(exc)) from exc
    if not fields:
        raise ExportError("Choose at least one field to export.")
    try:
        query = pickle.dumps(queryset.query)
        pickle.loads(query)
    except Exception as exc:
        raise ExportError(f"This queryset cannot be exported in the background: {exc}") from exc
    job = ExportJob(
        owner=owner if getattr(owner, "pk", None) else None,
        model_label=queryset.model._meta.label,
        database=queryset.db,
        query=query,
        fields=list(fields),
        dropped_fields=list(dropped_fields),
        format=fmt,
    )
    job.query_signature = signing.sign(job, query)
    job.save(using=perfkit_settings.DATABASE_ALIAS, force_insert=True)
    enqueue(job)
    return job


def cancel(job: ExportJob) -> bool:
    """Cancel a pending or running job (a running one stops at its next chunk)."""
    updated = (
        ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
        .filter(pk=job.pk, status__in=[Status.PENDING, Status.RUNNING])
        .update(status=Status.CANCELLED, finished_at=timezone.now())
    )
    return bool(updated)


def retry(job: ExportJob) -> bool:
    """Run a failed or cancelled job again from scratch."""
    updated = (
        ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
        .filter(pk=job.pk, status__in=[Status.FAILED, Status.CANCELLED])
        .update(
            status=Status.PENDING,
            error="",
            rows_done=0,
            attempts=0,
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            sent_at=None,
        )
    )
    if updated:
        # If the broker is down, job.queued becomes False and the reaper re-sends it.
        enqueue(job)
    return bool(updated)


def troubled_jobs(since: datetime | None = None, limit: int = 50) -> list[ExportJob]:
    """Jobs that failed since ``since`` (default: the last day) and running jobs that stalled.

    A stalled job is running with a heartbeat older than a few heartbeat
    intervals (its worker died, or cannot write). Stalled ones come first,
    then the failures, newest first. For perfkit's status page.
    """
    now = timezone.now()
    since = since or now - timedelta(days=1)
    jobs = ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS).defer("query")
    beat = timedelta(seconds=STALL_HEARTBEATS * perfkit_settings.EXPORTS_HEARTBEAT_SECONDS)
    stalled = jobs.filter(status=Status.RUNNING, heartbeat_at__lt=now - beat).order_by(
        "heartbeat_at"
    )
    failed = jobs.filter(status=Status.FAILED, finished_at__gte=since).order_by("-finished_at")
    return [*stalled[:limit], *failed[:limit]][:limit]
