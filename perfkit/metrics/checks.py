"""System checks of perfkit.metrics (ids ``perfkit_metrics.*``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

MIDDLEWARE_PATH = "perfkit.metrics.middleware.PerfMiddleware"

W001_MIDDLEWARE_MISSING = "perfkit.metrics is installed but PerfMiddleware is not in MIDDLEWARE."
W002_MIDDLEWARE_NOT_FIRST = "PerfMiddleware is not the first entry of MIDDLEWARE."

E001_APP_MISSING = (
    'PerfMiddleware is in MIDDLEWARE but "perfkit.metrics" is not in INSTALLED_APPS: '
    "its slow samples have no table and no admin page shows what it records."
)

ALL_IDS = ("perfkit_metrics.E001", "perfkit_metrics.W001", "perfkit_metrics.W002")


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


def check_middleware_app(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """PerfMiddleware needs perfkit.metrics (registered by core: runs without it)."""
    if apps.is_installed("perfkit.metrics"):
        return []
    if MIDDLEWARE_PATH not in list(getattr(settings, "MIDDLEWARE", None) or []):
        return []
    return [
        checks.Error(
            E001_APP_MISSING,
            hint='Add "perfkit.metrics" to INSTALLED_APPS and run migrate, '
            "or remove the middleware.",
            id="perfkit_metrics.E001",
        )
    ]
