"""perfkit.regressions' Celery tasks: detection on a schedule, alerts with retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from perfkit.recording import errors
from perfkit.recording.pipeline import count_task_run
from perfkit.regressions import api


class DeliveryFailed(Exception):
    """Some alert targets failed; raised only inside the task, to make Celery retry it."""


@shared_task(name="perfkit_regressions.detect", ignore_result=True, acks_late=True)
def detect() -> dict[str, int]:
    """Compare every endpoint with its baseline, then have the alerts sent (another task)."""
    result = api.detect()
    count_task_run("regressions")
    if result.alerts or api.pending_alerts():
        try:
            send_alerts.delay()
        except Exception as exc:  # broker down: the next run sends them
            errors.report("regression alerts enqueue", exc)
    return {
        "endpoints": result.endpoints,
        "opened": len(result.opened),
        "resolved": len(result.resolved),
    }


@shared_task(
    name="perfkit_regressions.send_alerts",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(DeliveryFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_alerts() -> dict[str, Any]:
    """Send pending alerts; retried with backoff while a target fails."""
    result = api.deliver_alerts()
    if result.failed:
        raise DeliveryFailed(f"{result.failed} alert deliveries failed")
    return {"sent": result.sent, "deferred": result.deferred}
