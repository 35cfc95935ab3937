"""Slow-request samples, and the proxy the "Slow endpoints" admin hangs on."""

from __future__ import annotations

from django.db import models

from perfkit.models import Rollup


class SlowRequest(models.Model):
    """One slow (or among the slowest) request, task or command, kept for a while.

    Holds a path and a user id, so it has its own retention and purge command.
    """

    endpoint = models.CharField(max_length=255)
    method = models.CharField(max_length=10, blank=True)
    path = models.TextField(blank=True)
    user_id = models.CharField(max_length=64, blank=True)
    status = models.PositiveSmallIntegerField(default=200)
    error = models.BooleanField(default=False)
    duration_ms = models.FloatField()
    db_ms = models.FloatField(default=0)
    queries = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    n_plus_one = models.BooleanField(default=False)
    repeated = models.JSONField(default=list, blank=True)
    cache = models.JSONField(default=dict, blank=True, help_text="perfkit.cache events")
    timeline = models.JSONField(
        default=dict, blank=True, help_text="the first statements' start and duration"
    )
    release = models.CharField(max_length=100, blank=True, help_text="the running RELEASE")
    hour = models.DateTimeField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "hour", "duration_ms"], name="perfkit_slow_endpoint"),
        ]
        ordering = ["-created_at"]
        permissions = [
            ("explain_slowrequest", "Can run EXPLAIN on the statements of slow samples"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.duration_ms:.0f} ms"


class EndpointStats(Rollup):
    """Proxy of core's rollups: the admin's "Slow endpoints" pages and permission."""

    class Meta:
        proxy = True
        verbose_name = "slow endpoint"
        verbose_name_plural = "slow endpoints"
