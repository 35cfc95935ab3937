from __future__ import annotations

from django.core import checks

from perfkit.exports import checks as exports_checks
from perfkit.installed import SubAppConfig


class ExportsConfig(SubAppConfig):
    name = "perfkit.exports"
    label = "perfkit_exports"
    verbose_name = "perfkit exports"
    default = True

    def ready(self) -> None:
        from django.apps import apps

        from perfkit.exports import digest, metrics, reports
        from perfkit.operations import openmetrics

        checks.register(exports_checks.check_exports, "perfkit")
        checks.register(exports_checks.check_default_celery_app, "perfkit")
        openmetrics.register_collector("perfkit.exports", metrics.job_counts)
        if apps.is_installed("perfkit.metrics") or apps.is_installed("perfkit.cache"):
            reports.register(digest.PerformanceDigest)
