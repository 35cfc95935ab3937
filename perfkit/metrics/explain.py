"""EXPLAIN a recorded SELECT on demand, safely, on its own connection.

Only a single read-only SELECT is ever planned. ``EXPLAIN ANALYZE`` runs it
for real, so it runs on a fresh connection inside a read-only transaction
with a short ``statement_timeout`` that is always rolled back. Without the
statement's parameters (perfkit stores them only when asked to) the plan is
PostgreSQL's generic plan, or SQLite's query plan with unbound values, and
ANALYZE is refused: running a statement needs its values.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit.sqlnames import canonical, written_tables

ANALYZE_TIMEOUT_MS = 5000
"""The longest an ``EXPLAIN ANALYZE`` may run before PostgreSQL cancels it."""

BIG_TABLE_ROWS = 10_000
"""A sequential scan expected to read more rows than this is highlighted."""

_PLACEHOLDER = re.compile(r"%s")
_SEQ_SCAN = re.compile(r"Seq Scan on (\S+)")
_ROWS = re.compile(r"rows=(\d+)")
_SQLITE_SCAN = re.compile(r"^SCAN (\S+)")


class ExplainRefused(Exception):
    """The statement cannot or may not be planned; the message says why."""


@dataclass(frozen=True)
class PlanLine:
    """One line of a plan, and whether it is where the time likely goes."""

    text: str
    costly: bool = False
    table: str = ""
    """The table a highlighted sequential scan reads (links to its index hints)."""


@dataclass(frozen=True)
class Plan:
    """A statement's plan as text lines, with how it was obtained."""

    lines: list[PlanLine] = field(default_factory=list)
    analyzed: bool = False
    how: str = ""

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def parse_params(stored: str | None) -> tuple[Any, ...] | None:
    """The parameters a sample stored (their repr), or None when they cannot be rebuilt."""
    if not stored:
        return None
    try:
        value = ast.literal_eval(stored)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, list):
        value = tuple(value)
    return value if isinstance(value, tuple) else None


def check_statement(sql: str) -> None:
    """Raise :class:`ExplainRefused` unless ``sql`` is one statement that only reads."""
    stripped = sql.strip().rstrip(";").strip()
    if not stripped:
        raise ExplainRefused("the statement is empty")
    if ";" in stripped:
        raise ExplainRefused("only a single statement can be explained")
    head = stripped.split(None, 1)[0].upper()
    if head not in {"SELECT", "WITH"}:
        raise ExplainRefused(f"only SELECT statements can be explained, not {head}")
    if written_tables(stripped):
        raise ExplainRefused("the statement writes (a data-modifying WITH): not explained")


def explain(alias: str, sql: str, params: Sequence[Any] | None, *, analyze: bool = False) -> Plan:
    """The plan of ``sql`` on database ``alias``; raises :class:`ExplainRefused`."""
    if alias not in connections:
        raise ExplainRefused(f"the database {alias!r} is not configured here")
    check_statement(sql)
    sql = sql.strip().rstrip(";").strip()
    placeholders = len(_PLACEHOLDER.findall(sql))
    if params is not None and len(params) != placeholders:
        params = None
    if analyze and params is None and placeholders:
        raise ExplainRefused(
            "EXPLAIN ANALYZE runs the statement and needs its parameters, which were not "
            "stored (see METRICS_CAPTURE_PARAMS)"
        )
    connection = connections.create_connection(alias)
    try:
        vendor = connection.vendor
        if vendor == "postgresql":
            return _postgresql(connection, sql, params, placeholders, analyze)
        if vendor == "sqlite":
            if analyze:
                raise ExplainRefused("SQLite has no EXPLAIN ANALYZE")
            return _sqlite(connection, sql, params, placeholders)
        raise ExplainRefused(f"plans are not supported on {connection.display_name}")
    finally:
        connection.close()


def _postgresql(
    connection: BaseDatabaseWrapper,
    sql: str,
    params: Sequence[Any] | None,
    placeholders: int,
    analyze: bool,
) -> Plan:
    connection.set_autocommit(False)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {int(ANALYZE_TIMEOUT_MS)}")
            if params is not None or not placeholders:
                options = "ANALYZE, BUFFERS, " if analyze else ""
                cursor.execute(f"EXPLAIN ({options}FORMAT TEXT) {sql}", params or ())
                how = "with the stored parameters" if placeholders else "the statement as run"
            elif getattr(connection, "pg_version", 0) >= 160000:
                numbered = _numbered(sql)
                cursor.execute(f"EXPLAIN (GENERIC_PLAN, FORMAT TEXT) {numbered}")
                how = "generic plan (parameters were not stored)"
            else:
                # Before PostgreSQL 16: a prepared statement forced to its generic plan
                # plans without values; EXECUTE's NULLs are then not looked at.
                numbered = _numbered(sql)
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                cursor.execute(f"PREPARE perfkit_explain AS {numbered}")
                nulls = ", ".join(["NULL"] * placeholders)
                cursor.execute(f"EXPLAIN (FORMAT TEXT) EXECUTE perfkit_explain({nulls})")
                how = "generic plan (parameters were not stored)"
            lines = [row[0] for row in cursor.fetchall()]
    except ExplainRefused:
        raise
    except Exception as error:
        raise ExplainRefused(f"the database refused the plan: {error}".strip()) from error
    finally:
        connection.rollback()
    return Plan([_pg_line(line) for line in lines], analyzed=analyze, how=how)


def _sqlite(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any] | None, placeholders: int
) -> Plan:
    how = "with the stored parameters"
    if params is None:
        params = (None,) * placeholders
        how = "planned without parameter values"
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            rows = cursor.fetchall()
    except Exception as error:
        raise ExplainRefused(f"the database refused the plan: {error}".strip()) from error
    depth: dict[int, int] = {}
    sizes: dict[str, int | None] = {}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        text = "  " * depth[node] + str(detail)
        scan = _SQLITE_SCAN.match(text.strip())
        if scan is None:
            lines.append(PlanLine(text))
            continue
        table = canonical(scan.group(1))
        if table not in sizes:
            sizes[table] = _sqlite_rows(connection, scan.group(1))
        size = sizes[table]
        # SQLite's plan has no row estimates: a full scan is costly on a big table
        # (or one whose size cannot be read).
        costly = size is None or size > BIG_TABLE_ROWS
        lines.append(PlanLine(text, costly=costly, table=table))
    return Plan(lines, analyzed=False, how=how)


def _sqlite_rows(connection: BaseDatabaseWrapper, name: str) -> int | None:
    """About how many rows an SQLite table holds (its largest rowid), None if unknown."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT max(rowid) FROM {connection.ops.quote_name(name)}")
            found = cursor.fetchone()
    except Exception:  # a view, a WITHOUT ROWID table, a CTE name
        return None
    return int(found[0] or 0) if found else None


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$1, $2...`` (``%%`` is a literal percent)."""
    counter = iter(range(1, 1_000_000))
    return re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else f"${next(counter)}", sql)


def _pg_line(text: str) -> PlanLine:
    scan = _SEQ_SCAN.search(text)
    if scan is None:
        return PlanLine(text)
    rows = [int(found) for found in _ROWS.findall(text)]
    costly = bool(rows) and max(rows) > BIG_TABLE_ROWS
    return PlanLine(text, costly=costly, table=canonical(scan.group(1)))
