"""``beat_schedule()``: perfkit's periodic tasks, for the project's Celery config."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from perfkit.conf import perfkit_settings


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Entries to merge into ``CELERY_BEAT_SCHEDULE`` (or ``app.conf.beat_schedule``).

    perfkit never creates a Celery app: the project owns it and adds these::

        app.conf.beat_schedule = {**app.conf.beat_schedule, **beat_schedule()}
    """
    schedule: dict[str, dict[str, Any]] = {
        "perfkit.drain": {"task": "perfkit.drain", "schedule": 30.0},
        "perfkit.prune": {"task": "perfkit.prune", "schedule": 3600.0},
    }
    # Settings, not the app registry: Celery reads this before apps are ready.
    if "perfkit.metrics" in settings.INSTALLED_APPS:
        schedule["perfkit_metrics.purge_samples"] = {
            "task": "perfkit_metrics.purge_samples",
            "schedule": 3600.0,
        }
    if "perfkit.exports" in settings.INSTALLED_APPS:
        schedule["perfkit_exports.reap"] = {"task": "perfkit_exports.reap", "schedule": 60.0}
        schedule["perfkit_exports.run_due_reports"] = {
            "task": "perfkit_exports.run_due_reports",
            "schedule": 60.0,
        }
        schedule["perfkit_exports.purge_files"] = {
            "task": "perfkit_exports.purge_files",
            "schedule": 3600.0,
        }
    if "perfkit.regressions" in settings.INSTALLED_APPS:
        schedule["perfkit_regressions.detect"] = {
            "task": "perfkit_regressions.detect",
            "schedule": perfkit_settings.REGRESSIONS_INTERVAL_SECONDS,
        }
    return schedule
