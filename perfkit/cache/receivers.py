"""Cache invalidation: one receiver of core's ``tables_changed``."""

from __future__ import annotations

from typing import Any

from perfkit.cache import stats, versions
from perfkit.writes import database_identity


def invalidate_tables(*, tables: frozenset[str], using: str, **kwargs: Any) -> None:
    """Give the written tables new version tokens.

    This runs even with ``CACHE_ENABLED`` off: entries stored before the
    switch was turned off must not be served once it is turned back on.
    """
    versions.bump(database_identity(using), tables)
    for table in tables:
        stats.count("invalidations", table)
