from __future__ import annotations

from django.apps import AppConfig

from perfkit.installed import require_core


class DebugToolbarPanelConfig(AppConfig):
    name = "perfkit.contrib.debug_toolbar"
    label = "perfkit_debug_toolbar"
    verbose_name = "perfkit debug-toolbar panel"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        require_core(self.name)  # before Django's obscure error for perfkit's models
        super().import_models()
