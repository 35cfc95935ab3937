from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate

from perfkit import checks as perfkit_checks
from perfkit.conf import perfkit_settings
from perfkit.contrib.debug_toolbar import checks as toolbar_checks
from perfkit.exports import checks as exports_checks
from perfkit.metrics import checks as metrics_checks


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting in ("PERFKIT", "CACHES", "DATABASES"):
        from perfkit.recording.pipeline import pipeline

        perfkit_settings.clear_cache()
        pipeline.reset_recorder()


def _pause_recording(**kwargs: object) -> None:
    from perfkit.recording.pipeline import pipeline

    pipeline.paused = True


def _resume_recording(**kwargs: object) -> None:
    from perfkit.recording.pipeline import pipeline

    pipeline.paused = False


class PerfkitConfig(AppConfig):
    name = "perfkit"
    label = "perfkit"
    verbose_name = "perfkit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from perfkit import observe
        from perfkit.recording import errors, pipeline

        checks.register(perfkit_checks.check_settings, "perfkit")
        checks.register(perfkit_checks.check_rate_limit_cache, "perfkit")
        checks.register(perfkit_checks.check_sqlite_flush_thread, "perfkit")
        # Parts used without their app: these run exactly when that app is missing.
        checks.register(metrics_checks.check_middleware_app, "perfkit")
        checks.register(exports_checks.check_export_admins, "perfkit")
        checks.register(toolbar_checks.check_panel_app, "perfkit")
        setting_changed.connect(_on_setting_changed, dispatch_uid="perfkit.setting_changed")
        connection_created.connect(
            observe.on_connection_created, dispatch_uid="perfkit.observe.connection_created"
        )
        observe.install_on_open_connections()
        pre_migrate.connect(_pause_recording, dispatch_uid="perfkit.pause_recording")
        post_migrate.connect(_resume_recording, dispatch_uid="perfkit.resume_recording")
        pipeline.install_exit_flush()
        errors.add_sink(pipeline.count_error)
        try:
            from perfkit import celery_signals
        except ImportError:  # Celery is an optional extra
            return
        celery_signals.connect()
