"""Figures of perfkit's own status page: recorder, errors, periodic jobs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.apps import apps
from django.db.models import Max
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from perfkit.conf import perfkit_settings
from perfkit.models import DrainToken, Resolution, Rollup
from perfkit.recording import errors
from perfkit.recording.pipeline import ERROR_KIND, TASK_KIND, default_recorder_path, pipeline
from perfkit.recording.query import WINDOWS, key_totals


@dataclass
class ErrorRow:
    source: str
    last_hour: int
    last_day: int
    last_message: str


@dataclass
class ExportProblem:
    job_id: str
    what: str
    state: str
    when: datetime | None
    error: str
    url: str


STALE_INTERVALS = 3
"""A flush older than this many flush intervals is shown in red."""


def recorder_figures() -> dict[str, Any]:
    """This process's recorder and buffer."""
    thread = pipeline._thread
    last = pipeline.last_flush_at
    interval = perfkit_settings.RECORDER_FLUSH_INTERVAL
    age = round(time.time() - last, 1) if last else None
    return {
        "recorder": default_recorder_path(),
        "flush_interval": perfkit_settings.RECORDER_FLUSH_INTERVAL,
        "buffered": len(pipeline.buffer),
        "dropped": pipeline.buffer.dropped,
        "bad_rows_dropped": pipeline.bad_rows_dropped,
        "flush_thread": bool(thread is not None and thread.is_alive()),
        "last_flush": datetime.fromtimestamp(last, tz=UTC) if last else None,
        # Time since the last successful flush; red past a few intervals.
        "flush_age_seconds": age,
        "flush_stale": age is not None and age > STALE_INTERVALS * max(interval, 1.0),
        "thread_restarts": pipeline.thread_restarts,
    }


def error_rows() -> list[ErrorRow]:
    """perfkit's own errors per source, from every process (rollups) and this one (messages)."""
    day = key_totals(ERROR_KIND, WINDOWS["24h"])
    hour = key_totals(ERROR_KIND, WINDOWS["1h"])
    local = errors.snapshot()
    sources = sorted(set(day) | set(local))
    return [
        ErrorRow(
            source=source,
            last_hour=hour[source].counters.get("errors", 0) if source in hour else 0,
            last_day=day[source].counters.get("errors", 0) if source in day else 0,
            last_message=local[source].last_message if source in local else "",
        )
        for source in sources
    ]


def periodic_jobs() -> list[tuple[str, datetime]]:
    """When each periodic job (drain, prune, ...) last ran, in any process."""
    rows = (
        Rollup.objects.using(perfkit_settings.DATABASE_ALIAS)
        .filter(kind=TASK_KIND, resolution=Resolution.MINUTE)
        .values_list("key")
        .annotate(last=Max("bucket"))
        .order_by("key")
    )
    return [(key, last) for key, last in rows]


def last_drain() -> datetime | None:
    return (
        DrainToken.objects.using(perfkit_settings.DATABASE_ALIAS)
        .aggregate(last=Max("drained_at"))
        .get("last")
    )


EXPORT_PROBLEMS = "perfkit.exports.api.troubled_jobs"
"""perfkit.exports' public function listing failed and stalled jobs (core never imports it)."""


def export_problems() -> list[ExportProblem] | None:
    """Exports that failed in the last day or stalled; ``None`` without ``perfkit.exports``."""
    if not apps.is_installed("perfkit.exports"):
        return None
    rows = []
    for job in import_string(EXPORT_PROBLEMS)():
        stalled = job.stalled_seconds
        try:
            url = reverse("admin:perfkit_exports_exportjob_change", args=[job.pk])
        except NoReverseMatch:
            url = ""
        rows.append(
            ExportProblem(
                job_id=str(job.pk),
                what=f"{job.model_label} as {job.format}",
                state=f"stalled: no heartbeat for {stalled} s" if stalled else str(job.status),
                when=job.heartbeat_at if stalled else job.finished_at,
                error=job.error,
                url=url,
            )
        )
    return rows


REGRESSION_ALERTS = "perfkit.regressions.api.alert_status"
"""perfkit.regressions' public function summing up its alert deliveries."""


def regression_alerts() -> dict[str, int] | None:
    """Alerts waiting, failing and given up; ``None`` without ``perfkit.regressions``."""
    if not apps.is_installed("perfkit.regressions"):
        return None
    return dict(import_string(REGRESSION_ALERTS)())
