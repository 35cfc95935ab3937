"""Sending export jobs to Celery, by task name (no import cycle with the tasks)."""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob

RUN_TASK = "perfkit_exports.run"


def enqueue(job: ExportJob) -> None:
    """Send the job's task once the current transaction commits (only its id travels)."""
    job_id = str(job.pk)
    transaction.on_commit(
        lambda: current_app.send_task(RUN_TASK, args=[job_id]),
        using=perfkit_settings.DATABASE_ALIAS,
    )
