"""What each process of ``fleet.py``'s fleet says about its flush thread as it exits."""

from __future__ import annotations

import json
import os
import time
from typing import Any

FIGURES_ENV = "PERFKIT_BENCH_FIGURES"


def figures(role: str) -> dict[str, Any]:
    """This process's recorder figures (those of perfkit's status page) and own errors."""
    from django.apps import apps

    result: dict[str, Any] = {"role": role, "pid": os.getpid(), "at": time.time()}
    if not apps.is_installed("perfkit"):
        return result
    from perfkit.operations.status import recorder_figures
    from perfkit.recording import errors

    recorder = recorder_figures()
    recorder["last_flush"] = str(recorder["last_flush"])
    result["recorder"] = recorder
    result["errors"] = {
        name: [stat.count, stat.last_message] for name, stat in errors.snapshot().items()
    }
    return result


def write_figures(role: str) -> None:
    """Append this process's figures as one JSON line to ``$PERFKIT_BENCH_FIGURES``."""
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    line = json.dumps(figures(role), default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
