from __future__ import annotations

from django.core import checks

from perfkit.installed import SubAppConfig
from perfkit.metrics import checks as metrics_checks


class MetricsConfig(SubAppConfig):
    name = "perfkit.metrics"
    label = "perfkit_metrics"
    verbose_name = "perfkit metrics"
    default = True

    def ready(self) -> None:
        from perfkit.metrics import commands_recording, samples
        from perfkit.recording.pipeline import pipeline

        checks.register(metrics_checks.check_middleware, "perfkit")
        pipeline.add_flush_hook("perfkit.metrics.samples", samples.flush)
        commands_recording.install()
        try:
            from perfkit.metrics import tasks_recording
        except ImportError:  # Celery is an optional extra
            return
        tasks_recording.connect()
