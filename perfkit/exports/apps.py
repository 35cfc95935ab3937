from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from perfkit.exports import checks as exports_checks
from perfkit.installed import require_core


class ExportsConfig(AppConfig):
    name = "perfkit.exports"
    label = "perfkit_exports"
    verbose_name = "perfkit exports"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        require_core(self.name)  # before Django's obscure error for perfkit's models
        super().import_models()

    def ready(self) -> None:
        from django.apps import apps

        from perfkit.exports import digest, metrics, reports
        from perfkit.operations import openmetrics

        checks.register(exports_checks.check_exports, "perfkit")
        checks.register(exports_checks.check_default_celery_app, "perfkit")
        openmetrics.register_collector("perfkit.exports", metrics.job_counts)
        if apps.is_installed("perfkit.metrics") or apps.is_installed("perfkit.cache"):
            reports.register(digest.PerformanceDigest)
