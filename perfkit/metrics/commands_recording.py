"""Recording management commands as endpoint ``command <name>``.

Django sends no signal around a command, so this wraps
``BaseCommand.execute`` once (reversibly, see :func:`uninstall`). The wrapper
reads ``METRICS_RECORD_COMMANDS`` at each call and does nothing when it is off.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.management.base import BaseCommand

from perfkit.conf import perfkit_settings
from perfkit.metrics.outcome import Outcome
from perfkit.metrics.run import Run
from perfkit.recording.pipeline import flush

_originals: dict[str, Callable[..., Any]] = {}

LONG_RUNNING = frozenset(
    {"runserver", "runserver_plus", "testserver", "shell", "shell_plus", "dbshell", "perfkit_top"}
)
"""Commands that run until stopped: their duration says nothing, so they are not recorded.

A command of your own opts out with a class attribute ``perfkit_record = False``.
"""


def is_recorded(command: BaseCommand) -> bool:
    """Whether runs of ``command`` are recorded (when METRICS_RECORD_COMMANDS is on)."""
    return getattr(command, "perfkit_record", True) and command_name(command) not in LONG_RUNNING


def command_name(command: BaseCommand) -> str:
    return type(command).__module__.rsplit(".", 1)[-1]


def install() -> None:
    """Wrap ``BaseCommand.execute``; idempotent."""
    if "execute" in _originals:
        return
    original = BaseCommand.execute

    @wraps(original)
    def execute(self: BaseCommand, *args: Any, **options: Any) -> Any:
        if not (
            perfkit_settings.METRICS_ENABLED
            and perfkit_settings.METRICS_RECORD_COMMANDS
            and is_recorded(self)
        ):
            return original(self, *args, **options)
        run = Run()
        outcome = Outcome(endpoint=f"command {command_name(self)}")
        try:
            return original(self, *args, **options)
        except BaseException:
            outcome.error, outcome.status = True, 500
            raise
        finally:
            run.finish(outcome)
            flush()

    _originals["execute"] = original
    BaseCommand.execute = execute  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore Django's own ``BaseCommand.execute``."""
    original = _originals.pop("execute", None)
    if original is not None:
        BaseCommand.execute = original  # type: ignore[method-assign]
