from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "perfkit.exports"
    label = "perfkit_exports"
    verbose_name = "perfkit exports"
    default_auto_field = "django.db.models.BigAutoField"
