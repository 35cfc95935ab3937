from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from perfkit.installed import require_core
from perfkit.metrics import checks as metrics_checks


class MetricsConfig(AppConfig):
    name = "perfkit.metrics"
    label = "perfkit_metrics"
    verbose_name = "perfkit metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        require_core(self.name)  # before Django's obscure error for perfkit's models
        super().import_models()

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
