"""Background export jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.installed import guard_models

guard_models(__name__)  # a clear ImproperlyConfigured, not Django's "no explicit app_label"

STALL_HEARTBEATS = 3
"""A running job whose heartbeat is older than this many heartbeat intervals is shown as stalled."""


class ExportJob(models.Model):
    """One export of a queryset to a file, run by a Celery worker.

    The queryset travels as its pickled ``Query`` (which Django documents as
    picklable), signed so the worker never unpickles bytes this site did not
    write (:mod:`perfkit.exports.signing`); the task receives only the job's id.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="perfkit_export_jobs",
    )
    model_label = models.CharField(max_length=200, help_text="app_label.ModelName")
    database = models.CharField(max_length=100, default="default")
    query = models.BinaryField(help_text="The pickled QuerySet.query")
    query_signature = models.CharField(
        max_length=128,
        blank=True,
        help_text="HMAC of the pickled query (perfkit.exports.signing); unsigned jobs never run",
    )
    fields = models.JSONField(default=list)
    format = models.CharField(max_length=10)
    dropped_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Columns left out: the owner may not view a model they go through "
        "(EXPORTS_CHECK_FIELD_PERMISSIONS)",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(null=True, blank=True)
    file = models.CharField(max_length=500, blank=True, help_text="Name in EXPORTS_STORAGE")
    size = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task last reached the broker"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    # Not a field: set on this instance by perfkit.exports.queue.enqueue, True
    # once its task reached the broker, False when the broker was unreachable
    # (the reaper re-sends it), None until the transaction commits.
    queued: bool | None = None

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_all_exports", "Can see and download every user's exports")]

    def __str__(self) -> str:
        return f"{self.model_label} as {self.format} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def stalled_seconds(self) -> int | None:
        """Seconds since the last heartbeat of a running job that stopped beating, else None.

        The reaper re-queues such a job only after ``EXPORTS_STALE_SECONDS``;
        meanwhile its page should not look alive.
        """
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return None
        age = (timezone.now() - self.heartbeat_at).total_seconds()
        if age <= STALL_HEARTBEATS * perfkit_settings.EXPORTS_HEARTBEAT_SECONDS:
            return None
        return int(age)

    @property
    def progress_percent(self) -> float | None:
        if not self.rows_total:
            return 100.0 if self.status == self.Status.SUCCEEDED else None
        return min(100.0, 100.0 * self.rows_done / self.rows_total)

    @property
    def download_name(self) -> str:
        """The file name users see: ``<model>-<date>.<ext>``."""
        model = self.model_label.rsplit(".", 1)[-1].lower()
        return f"{model}-{self.created_at:%Y%m%d-%H%M%S}.{self.format}"


class ReportRun(models.Model):
    """One run of a registered report in one format, with its file."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.CharField(max_length=100, db_index=True)
    format = models.CharField(max_length=10)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text="The minute a scheduled run was due (None: run now)"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="perfkit_report_runs",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows = models.BigIntegerField(default=0)
    file = models.CharField(max_length=500, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    emailed_to = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two beats (or a retried task) never run the same scheduled minute twice.
            models.UniqueConstraint(
                fields=["report", "format", "scheduled_for"], name="perfkit_reportrun_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.report} ({self.format}, {self.status})"

    @property
    def download_name(self) -> str:
        return f"{self.report}-{self.created_at:%Y%m%d-%H%M}.{self.format}"
