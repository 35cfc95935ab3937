"""perfkit.metrics' periodic tasks."""

from __future__ import annotations

from celery import shared_task

from perfkit.metrics import api


@shared_task(name="perfkit_metrics.purge_samples", ignore_result=True)
def purge_samples() -> int:
    """Delete slow samples past ``METRICS_SAMPLES_RETENTION_DAYS``."""
    return api.purge_samples()
