"""Recording every Celery task run as endpoint ``task <name>``, via task signals."""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun, task_prerun

from perfkit.conf import perfkit_settings
from perfkit.metrics.outcome import Outcome
from perfkit.metrics.run import Run

_runs: dict[str, Run] = {}


def _on_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is None or not (
        perfkit_settings.METRICS_ENABLED and perfkit_settings.METRICS_RECORD_TASKS
    ):
        return
    _runs[task_id] = Run()


def _on_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    run = _runs.pop(task_id or "", None)
    if run is None:
        return
    failed = state == "FAILURE"
    name = getattr(task, "name", None) or "unknown"
    run.finish(Outcome(endpoint=f"task {name}", status=500 if failed else 200, error=failed))


def connect() -> None:
    task_prerun.connect(_on_prerun, dispatch_uid="perfkit.metrics.task_prerun", weak=False)
    task_postrun.connect(_on_postrun, dispatch_uid="perfkit.metrics.task_postrun", weak=False)
