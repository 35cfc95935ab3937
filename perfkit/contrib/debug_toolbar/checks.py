"""System checks of perfkit's debug-toolbar panel (ids ``perfkit_debug_toolbar.*``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

PANEL_PATH = "perfkit.contrib.debug_toolbar.panel.PerfkitPanel"

E001_APP_MISSING = (
    'PerfkitPanel is in DEBUG_TOOLBAR_PANELS but "perfkit.contrib.debug_toolbar" is not in '
    "INSTALLED_APPS: the panel's template does not exist and the toolbar fails to render it."
)

ALL_IDS = ("perfkit_debug_toolbar.E001",)


def check_panel_app(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The panel needs its app for its template (registered by core: runs without it)."""
    if apps.is_installed("perfkit.contrib.debug_toolbar"):
        return []
    if PANEL_PATH not in list(getattr(settings, "DEBUG_TOOLBAR_PANELS", None) or []):
        return []
    return [
        checks.Error(
            E001_APP_MISSING,
            hint='Add "perfkit.contrib.debug_toolbar" to INSTALLED_APPS.',
            id="perfkit_debug_toolbar.E001",
        )
    ]
