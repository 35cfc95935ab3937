"""System checks of the ``PERFKIT`` settings dict (ids ``perfkit.*``)."""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.core import checks

from perfkit.conf import SPECS

# Message templates are module constants so their ids stay unique and greppable.
E001_NOT_A_DICT = "settings.PERFKIT must be a dict, not {type}."
W001_UNKNOWN_KEY = "Unknown key {key!r} in settings.PERFKIT; it is ignored."
E002_BAD_VALUE = "settings.PERFKIT[{key!r}] {problem} (got {value!r})."

ALL_IDS = ("perfkit.E001", "perfkit.W001", "perfkit.E002")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Validate ``settings.PERFKIT``: unknown keys warn, bad values are errors."""
    user = getattr(settings, "PERFKIT", None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [checks.Error(E001_NOT_A_DICT.format(type=type(user).__name__), id="perfkit.E001")]
    messages: list[checks.CheckMessage] = []
    for key, value in user.items():
        spec = SPECS.get(key)
        if spec is None:
            close = difflib.get_close_matches(str(key), SPECS, n=1, cutoff=0.6)
            hint = f"Did you mean {close[0]!r}?" if close else "See perfkit's settings docs."
            messages.append(
                checks.Warning(W001_UNKNOWN_KEY.format(key=key), hint=hint, id="perfkit.W001")
            )
            continue
        problem = spec.problem(value)
        if problem:
            messages.append(
                checks.Error(
                    E002_BAD_VALUE.format(key=key, problem=problem, value=value),
                    hint=f"{key}: {spec.doc} Default: {spec.default!r}.",
                    id="perfkit.E002",
                )
            )
    return messages
