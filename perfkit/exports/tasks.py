"""perfkit.exports' Celery tasks: they take ids, are idempotent and acks_late."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from perfkit.exports import engine, maintenance, report_runs, tempfiles


@shared_task(
    name="perfkit_exports.run",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    ignore_result=True,
)
def run_export(job_id: str) -> str:
    """Run one export job (a no-op unless it is pending)."""
    return engine.run(job_id)


@shared_task(name="perfkit_exports.reap", ignore_result=True)
def reap_stale() -> dict[str, int]:
    """Send again pending jobs nobody picked up; re-queue or fail jobs whose worker died.

    Also removes this host's temporary export files no live worker writes.
    """
    resent = maintenance.resend_pending()
    return {**maintenance.reap_stale(), "resent": resent, "temp_dirs_removed": tempfiles.sweep()}


@shared_task(name="perfkit_exports.purge_files", ignore_result=True)
def purge_files() -> int:
    """Delete export files past ``EXPORTS_RETENTION_DAYS`` and orphaned ones."""
    return maintenance.purge_old_files()


@shared_task(name="perfkit_exports.run_due_reports", ignore_result=True)
def run_due_reports() -> list[str]:
    """Run the registered reports whose schedule fires this minute."""
    return report_runs.run_due_reports()


@shared_task(name="perfkit_exports.run_report", acks_late=True, ignore_result=True)
def run_report(name: str, user_id: int | None = None) -> int:
    """Run one report now ("Run now" in the admin)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return len(report_runs.run_report(name, user=user))
