"""Cache invalidation: one receiver of core's ``tables_changed``."""

from __future__ import annotations

from typing import Any

from perfkit.cache import stats, versions


def invalidate_tables(*, tables: frozenset[str], database: str, **kwargs: Any) -> None:
    """Give the written tables new version tokens.

    This runs even with ``CACHE_ENABLED`` off: entries stored before the
    switch was turned off must not be served once it is turned back on.
    """
    versions.bump(database, tables)
    for table in tables:
        stats.count("invalidations", table)
