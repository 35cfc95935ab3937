"""perfkit.metrics' public functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perfkit.conf import perfkit_settings
from perfkit.metrics.models import SlowRequest


def purge_samples(older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete slow samples older than the retention (or ``older_than_days``; 0 = all)."""
    days = (
        perfkit_settings.METRICS_SAMPLES_RETENTION_DAYS
        if older_than_days is None
        else older_than_days
    )
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(days=days)
    deleted, _ = (
        SlowRequest.objects.using(perfkit_settings.DATABASE_ALIAS)
        .filter(created_at__lt=cutoff)
        .delete()
    )
    return deleted
