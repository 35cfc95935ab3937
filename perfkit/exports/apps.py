from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from perfkit.exports import checks as exports_checks


class ExportsConfig(AppConfig):
    name = "perfkit.exports"
    label = "perfkit_exports"
    verbose_name = "perfkit exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(exports_checks.check_exports, "perfkit")
