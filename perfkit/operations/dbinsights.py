"""Figures of the admin's Database page: pool, statements, index hints, N+1s.

Every PostgreSQL read runs in its own savepoint and turns a database error
(a missing privilege, a statistics view that is not there) into a message on
the page, so one section failing never breaks the page or the request's
transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit.conf import perfkit_settings
from perfkit.metrics.fixhints import FixHint, hint_at_site
from perfkit.recording.query import WINDOWS, key_totals

N_PLUS_ONE_KIND = "nplus1"
"""Rollup kind of N+1 fingerprints; key: call site, a newline, then the SQL."""

TOP_STATEMENTS = 15
T = TypeVar("T")


@dataclass
class Section:
    """One part of the page: its rows, or why it has none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str = ""
    hint: str = ""


@dataclass
class NPlusOne:
    """An N+1 fingerprint as perfkit.metrics saw it, fleet-wide."""

    site: str
    sql: str
    runs: int
    queries: int

    @cached_property
    def fix(self) -> FixHint:
        """The select_related/prefetch_related that would remove it, or why none was found."""
        return hint_at_site(self.sql, self.site)


def n_plus_one_key(site: str, sql: str) -> str:
    """The rollup key of one fingerprint at one call site (hashed by core when long)."""
    return f"{site}\n{sql}"


def short_path(filename: str) -> str:
    """``filename`` relative to the working directory when it lies under it."""
    cwd = os.getcwd() + os.sep
    return filename[len(cwd) :] if filename.startswith(cwd) else filename


def top_n_plus_ones(window: str = "24h", limit: int = 20) -> list[NPlusOne]:
    """The fingerprints most often seen in N+1 patterns over ``window``."""
    totals = key_totals(N_PLUS_ONE_KIND, WINDOWS[window])
    found = []
    for key, aggregate in totals.items():
        site, _, sql = key.partition("\n")
        found.append(
            NPlusOne(
                site=site,
                sql=sql,
                runs=aggregate.counters.get("runs", 0),
                queries=aggregate.counters.get("queries", 0),
            )
        )
    found.sort(key=lambda item: (-item.runs, -item.queries, item.site))
    return found[:limit]


def pool_figures(connection: BaseDatabaseWrapper) -> dict[str, int] | None:
    """This process's psycopg pool of ``connection`` (size, idle, in use, waiting), or None."""
    if connection.vendor != "postgresql":
        return None
    pool = getattr(connection, "pool", None)
    if pool is None:
        return None
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    idle = stats.get("pool_available", 0)
    return {
        "min": stats.get("pool_min", 0),
        "max": stats.get("pool_max", 0),
        "size": size,
        "idle": idle,
        "in_use": size - idle,
        "waiting": stats.get("requests_waiting", 0),
        "requests": stats.get("requests_num", 0),
        "wait_ms": stats.get("requests_wait_ms", 0),
        "errors": stats.get("requests_errors", 0),
    }


def read(connection: BaseDatabaseWrapper, reader: Callable[[Any], T]) -> T:
    """Run ``reader(cursor)`` inside a savepoint of ``connection``."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        return reader(cursor)


def fetch_rows(cursor: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts keyed by column name."""
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_section(alias: str, reader: Callable[[Any], list[dict[str, Any]]]) -> Section:
    """A section of ``reader``'s rows, or of why they could not be read."""
    try:
        return Section(rows=read(connections[alias], reader))
    except DatabaseError as exc:
        return Section(unavailable=f"Could not read it: {exc}".strip())


_STATEMENTS_SQL = """
SELECT s.query, s.calls, s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms,
       s.rows, s.shared_blks_hit, s.shared_blks_read
FROM pg_stat_statements s
JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database()
ORDER BY s.total_exec_time DESC
LIMIT %s
"""

STATEMENTS_HINT = (
    "Add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart "
    "PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database."
)


def top_statements(alias: str, limit: int = TOP_STATEMENTS) -> Section:
    """The statements with the most total execution time, from pg_stat_statements."""

    def installed(cursor: Any) -> tuple[bool, str]:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        found = cursor.fetchone() is not None
        cursor.execute("SHOW shared_preload_libraries")
        return found, cursor.fetchone()[0]

    connection = connections[alias]
    try:
        found, preload = read(connection, installed)
    except DatabaseError as exc:
        return Section(unavailable=f"Could not read it: {exc}")
    if not found or "pg_stat_statements" not in preload:
        missing = "is not installed in this database" if not found else "is not preloaded"
        return Section(unavailable=f"pg_stat_statements {missing}.", hint=STATEMENTS_HINT)
    section = read_section(alias, lambda cursor: fetch_rows(cursor, _STATEMENTS_SQL, [limit]))
    for row in section.rows:
        for name in ("total_ms", "mean_ms"):
            row[name] = round(float(row[name]), 2)
        blocks = row["shared_blks_hit"] + row["shared_blks_read"]
        row["cache_hit"] = round(100 * row["shared_blks_hit"] / blocks, 1) if blocks else None
    return section


_UNUSED_INDEXES_SQL = """
SELECT s.schemaname AS schema, s.relname AS "table", s.indexrelname AS "index",
       pg_relation_size(s.indexrelid) AS size_bytes,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
ORDER BY pg_relation_size(s.indexrelid) DESC, s.relname, s.indexrelname
LIMIT 30
"""


def unused_indexes(alias: str) -> Section:
    """Indexes never scanned since statistics were reset (unique ones excluded)."""
    return read_section(alias, lambda cursor: fetch_rows(cursor, _UNUSED_INDEXES_SQL))


def stats_since(alias: str) -> Any:
    """When this database's statistics were last reset, or None."""

    def reset_time(cursor: Any) -> Any:
        cursor.execute(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
        )
        row = cursor.fetchone()
        return row[0] if row else None

    try:
        return read(connections[alias], reset_time)
    except DatabaseError:
        return None


def database_aliases() -> list[str]:
    """Configured aliases, perfkit's own first."""
    own = perfkit_settings.DATABASE_ALIAS
    return sorted(connections.settings, key=lambda alias: (alias != own, alias))
