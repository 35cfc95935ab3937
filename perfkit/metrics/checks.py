"""System checks of perfkit.metrics (ids ``perfkit_metrics.*``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

MIDDLEWARE_PATH = "perfkit.metrics.middleware.PerfMiddleware"

W001_MIDDLEWARE_MISSING = "perfkit.metrics is installed but PerfMiddleware is not in MIDDLEWARE."
W002_MIDDLEWARE_NOT_FIRST = "PerfMiddleware is not the first entry of MIDDLEWARE."

ALL_IDS = ("perfkit_metrics.W001", "perfkit_metrics.W002")


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """PerfMiddleware should be present, and first so it times everything."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        return [
            checks.Warning(
                W001_MIDDLEWARE_MISSING,
                hint=f"Add {MIDDLEWARE_PATH!r} as the first entry of MIDDLEWARE.",
                id="perfkit_metrics.W001",
            )
        ]
    if middleware[0] != MIDDLEWARE_PATH:
        return [
            checks.Warning(
                W002_MIDDLEWARE_NOT_FIRST,
                hint="Middleware before it is not timed and its queries are not seen.",
                id="perfkit_metrics.W002",
            )
        ]
    return []
