"""Releases, detected regressions and the alerts sent about them."""

from __future__ import annotations

from django.db import models


class Release(models.Model):
    """A deployed release: its name and when it started serving.

    Rollups are not keyed by release: "this release" is the time from its
    ``started_at`` to the next release's (see :mod:`perfkit.regressions.releases`).
    """

    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField(db_index=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.name


class Metric(models.TextChoices):
    P95 = "p95", "p95 latency (ms)"
    QUERIES = "queries", "queries per request"


class Regression(models.Model):
    """One endpoint's metric that got worse than its baseline, open until it recovers."""

    endpoint = models.TextField()
    metric = models.CharField(max_length=20, choices=Metric.choices)
    before = models.FloatField(help_text="Baseline value (ms for p95)")
    after = models.FloatField(help_text="Recent value (ms for p95), updated while open")
    requests_before = models.PositiveIntegerField(default=0)
    requests_after = models.PositiveIntegerField(default=0)
    baseline = models.CharField(max_length=20, help_text='"release", "day" or "week"')
    baseline_release = models.CharField(max_length=200, blank=True)
    release = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # At most one open regression per endpoint and metric, even with two detectors.
            models.UniqueConstraint(
                fields=["endpoint", "metric"],
                condition=models.Q(resolved_at__isnull=True),
                name="perfkit_regression_one_open",
            )
        ]

    def __str__(self) -> str:
        unit = " ms" if self.metric == Metric.P95 else ""
        return f"{self.endpoint} {self.metric}: {self.before:.1f}{unit} -> {self.after:.1f}{unit}"

    @property
    def ratio(self) -> float | None:
        return self.after / self.before if self.before else None


class Alert(models.Model):
    """One message about a regression (opened, resolved, a reminder), sent at most once.

    The unique (regression, event) pair is the sent-marker: detection creates
    it in the transaction that changes the regression, so a second beat run
    or a retried task finds it and never makes another.
    """

    regression = models.ForeignKey(Regression, on_delete=models.CASCADE, related_name="alerts")
    event = models.CharField(max_length=30)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cancelled = models.BooleanField(default=False)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["regression", "event"], name="perfkit_alert_once")
        ]

    def __str__(self) -> str:
        return f"{self.event}: {self.regression}"


class AlertDelivery(models.Model):
    """An alert's delivery to one target; a target that already got it is skipped on retry."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    target = models.CharField(max_length=300)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "target"], name="perfkit_alert_delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.alert} -> {self.target}"
