"""gunicorn configuration of ``fleet.py``: each worker reports its flush thread as it exits."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    """Runs in the worker after its loop ended, before interpreter exit (and perfkit's flush)."""
    from benchmarks.overhead_project.figures import write_figures

    write_figures("gunicorn")
