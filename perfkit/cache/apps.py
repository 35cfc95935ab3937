from __future__ import annotations

from django.apps import AppConfig


class CacheConfig(AppConfig):
    name = "perfkit.cache"
    label = "perfkit_cache"
    verbose_name = "perfkit cache"
    default_auto_field = "django.db.models.BigAutoField"
