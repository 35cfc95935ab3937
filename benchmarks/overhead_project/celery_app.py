"""The Celery app of ``fleet.py``'s workers: one task that notes each run in the database."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.overhead_project.settings")

app = Celery("perfkit_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="fleet.note_run")
def note_run() -> None:
    """One row per run: the exact number of tasks that ran, counted outside perfkit."""
    from django.conf import settings

    from benchmarks.overhead_project.models import TaskRun

    TaskRun.objects.create(config=settings.CONFIG)


@worker_process_shutdown.connect
def _report(**kwargs: Any) -> None:
    # Connected before perfkit's own handler (its app is not loaded yet at
    # import): the figures are those of the run, before perfkit's exit flush.
    from benchmarks.overhead_project.figures import write_figures

    write_figures("celery")
