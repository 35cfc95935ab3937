"""System checks of perfkit.cache (ids ``perfkit_cache.*``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from perfkit.conf import perfkit_settings

E001_NO_SUCH_CACHE = "PERFKIT['CACHE_ALIAS'] names {alias!r}, which is not in CACHES."
W001_IGNORE_EXCEPTIONS = (
    "The cache {alias!r} sets IGNORE_EXCEPTIONS: Redis errors become empty answers "
    "and perfkit cannot count every failure."
)
W002_LOCAL_MEMORY = (
    "The query cache {alias!r} is local memory while DEBUG is off: a write in one "
    "process does not invalidate entries cached by another."
)

ALL_IDS = ("perfkit_cache.E001", "perfkit_cache.W001", "perfkit_cache.W002")


def check_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The query cache exists, is shared across processes and reports its errors."""
    alias = perfkit_settings.CACHE_ALIAS
    config: dict[str, Any] | None = settings.CACHES.get(alias)
    if config is None:
        return [checks.Error(E001_NO_SUCH_CACHE.format(alias=alias), id="perfkit_cache.E001")]
    messages: list[checks.CheckMessage] = []
    if config.get("OPTIONS", {}).get("IGNORE_EXCEPTIONS") or getattr(
        settings, "DJANGO_REDIS_IGNORE_EXCEPTIONS", False
    ):
        messages.append(
            checks.Warning(
                W001_IGNORE_EXCEPTIONS.format(alias=alias),
                hint="Remove IGNORE_EXCEPTIONS: perfkit already falls back to the database.",
                id="perfkit_cache.W001",
            )
        )
    if config.get("BACKEND", "").endswith("LocMemCache") and not settings.DEBUG:
        messages.append(
            checks.Warning(
                W002_LOCAL_MEMORY.format(alias=alias),
                hint="Use Redis (django-redis) or another shared cache for CACHE_ALIAS.",
                id="perfkit_cache.W002",
            )
        )
    return messages
