from __future__ import annotations

from django.apps import AppConfig


class DebugToolbarPanelConfig(AppConfig):
    name = "perfkit.contrib.debug_toolbar"
    label = "perfkit_debug_toolbar"
    verbose_name = "perfkit debug-toolbar panel"
    default_auto_field = "django.db.models.BigAutoField"
