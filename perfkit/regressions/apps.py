from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from perfkit.installed import require_core
from perfkit.regressions import checks as regressions_checks


class RegressionsConfig(AppConfig):
    name = "perfkit.regressions"
    label = "perfkit_regressions"
    verbose_name = "perfkit regressions"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        require_core(self.name)  # before Django's obscure error for perfkit's models
        super().import_models()

    def ready(self) -> None:
        from perfkit.recording.pipeline import pipeline
        from perfkit.regressions import releases

        checks.register(regressions_checks.check_alert_targets, "perfkit")

        # The running release is noted from the flush thread, never a request.
        pipeline.add_flush_hook("perfkit.regressions.releases", releases.note_running)
