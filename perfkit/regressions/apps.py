from __future__ import annotations

from django.apps import AppConfig


class RegressionsConfig(AppConfig):
    name = "perfkit.regressions"
    label = "perfkit_regressions"
    verbose_name = "perfkit regressions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from perfkit.recording.pipeline import pipeline
        from perfkit.regressions import releases

        # The running release is noted from the flush thread, never a request.
        pipeline.add_flush_hook("perfkit.regressions.releases", releases.note_running)
