"""Cache invalidation: one receiver of core's ``tables_changed``."""

from __future__ import annotations

from typing import Any

from perfkit.cache import stats, versions
from perfkit.conf import perfkit_settings


def invalidate_tables(*, tables: frozenset[str], database: str, **kwargs: Any) -> None:
    """Give the written tables new version tokens."""
    if not perfkit_settings.CACHE_ENABLED:
        return
    versions.bump(database, tables)
    for table in tables:
        stats.count("invalidations", table)
