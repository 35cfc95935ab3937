"""Core's generic rollup models, written by the recording pipeline.

metrics and cache both record through :mod:`perfkit.recording` and read these
rows back through :mod:`perfkit.recording.query`; neither owns them.
"""

from __future__ import annotations

from django.db import models

from perfkit.installed import guard_models

guard_models(__name__)  # a clear ImproperlyConfigured, not Django's "no explicit app_label"


class Resolution(models.IntegerChoices):
    """Width of a rollup's time bucket in seconds; TOTAL rows are never pruned.

    TEN_MINUTES rows let the last hour be read as a few minute rows at its
    start plus at most seven ten-minute rows, instead of sixty minute rows.
    """

    TOTAL = 0, "total"
    MINUTE = 60, "minute"
    TEN_MINUTES = 600, "10 minutes"
    HOUR = 3600, "hour"
    DAY = 86400, "day"


class Rollup(models.Model):
    """Counters, maxima and a latency histogram of one key over one time bucket.

    ``kind`` says who recorded it ("endpoint", "cache", ...), ``key`` what
    (``GET shop/books/<int:pk>/``). A recorded key longer than the column is
    stored as a readable prefix and a hash of the full text, and the text
    goes in ``label`` (see :mod:`perfkit.recording.clean`); readers show the
    label when there is one. TOTAL rows (bucket at the epoch) hold
    cumulative totals that only grow, for anything exposed as a counter.
    """

    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=255)
    label = models.TextField(blank=True, default="")
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    bucket = models.DateTimeField()
    counters = models.JSONField(default=dict)
    maxima = models.JSONField(default=dict)
    histogram = models.JSONField(default=dict)
    # The bucket (histogram index) of the row's 95th percentile, written with
    # the histogram: trend lines read one small number per row instead of
    # decoding a histogram each. None when the histogram is empty, and on
    # rows written before the column existed (readers fall back to the histogram).
    p95_bucket = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "resolution", "bucket", "key"], name="perfkit_rollup_unique"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "key", "resolution", "bucket"], name="perfkit_rollup_key"),
        ]

    def __str__(self) -> str:
        when = f"{self.bucket:%Y-%m-%d %H:%M}"
        return f"{self.kind} {self.key} @{when} ({self.get_resolution_display()})"


class DrainToken(models.Model):
    """A drained Redis batch or a flushed batch, written in the same transaction as its counts.

    Its uniqueness is what makes a drain and a flush exactly-once: a batch
    whose token is already here was counted; a drain only deletes it from
    Redis, a flush resent after a lost reply writes nothing (``flush:<id>``).
    """

    token = models.CharField(max_length=200, unique=True)
    drained_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.token


class DrainedBatch(models.Model):
    """One flushed batch's counts of one minute, drained from Redis: never drained twice.

    Written by the drain in the transaction that merges the counts. A
    process whose Redis lost what it wrote resends its recent batches (see
    :mod:`perfkit.recording.backends.redis`); a resent (batch, minute) whose
    row is here was counted before the loss and is discarded.
    ``minute`` is the minute's start in epoch seconds.
    """

    batch_id = models.CharField(max_length=200)
    minute = models.BigIntegerField()
    drained_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch_id", "minute"], name="perfkit_drained_batch")
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}@{self.minute}"


class PerfkitStatus(Rollup):
    """Proxy of the rollups: the admin's "perfkit status" page and its permission."""

    class Meta:
        proxy = True
        verbose_name = "perfkit status"
        verbose_name_plural = "perfkit status"


class DatabaseInsights(Rollup):
    """Proxy of the rollups: the admin's "Database" page and its permission."""

    class Meta:
        proxy = True
        verbose_name = "database"
        verbose_name_plural = "database"
