"""perfkit.cache's public functions."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, models

from perfkit.cache import stats, versions
from perfkit.cache.decorators import table_names
from perfkit.writes import database_identity

request_stats = stats.request_stats


def invalidate(*models_or_tables: type[models.Model] | str, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Invalidate cached reads of these tables (for writes made outside Django).

    Returns False when the cache could not be reached; the bump is then
    retried before this process serves another cached read.
    """
    tables = table_names(models_or_tables)
    ok = versions.bump(database_identity(using), tables)
    for table in tables:
        stats.count("invalidations", table)
    return ok


def clear() -> bool:
    """Drop every cached entry at once (a new namespace token); never raises.

    Returns False when the cache could not be reached: the new namespace is
    then set, like a failed bump, before this process serves another cached
    read. Pending failed bumps are kept until they land.
    """
    return versions.reset_namespace()
