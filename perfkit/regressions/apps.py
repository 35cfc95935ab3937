from __future__ import annotations

from django.core import checks

from perfkit.installed import SubAppConfig
from perfkit.regressions import checks as regressions_checks


class RegressionsConfig(SubAppConfig):
    name = "perfkit.regressions"
    label = "perfkit_regressions"
    verbose_name = "perfkit regressions"
    default = True

    def ready(self) -> None:
        from perfkit.recording.pipeline import pipeline
        from perfkit.regressions import releases

        checks.register(regressions_checks.check_alert_targets, "perfkit")

        # The running release is noted from the flush thread, never a request.
        pipeline.add_flush_hook("perfkit.regressions.releases", releases.note_running)
