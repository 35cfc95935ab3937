"""System checks of perfkit.regressions (ids ``perfkit_regressions.*``)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from perfkit.regressions.alerts.targets import configured

E001_BAD_TARGET = "A REGRESSIONS_ALERTS entry is not a valid alert target: {problem}."

ALL_IDS = ("perfkit_regressions.E001",)


def check_alert_targets(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every alert target must be usable: a malformed one would drop its alerts."""
    _, problems = configured()
    return [
        checks.Error(
            E001_BAD_TARGET.format(problem=problem),
            hint='Use {"type": "email", "to": [...]} or '
            '{"type": "webhook", "url": "https://...", "format": "json" or "slack"}.',
            id="perfkit_regressions.E001",
        )
        for problem in problems
    ]
