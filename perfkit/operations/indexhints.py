"""Index hints: tables scanned whole again and again, and the columns to index.

A table makes the list when its sequential scans keep reading many rows. When
pg_stat_statements is available, the statements that read the table name the
columns they filter it on; those no index starts with are the suggestion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from perfkit.operations.dbinsights import Section, fetch_rows, read_section

MIN_ROWS_PER_SCAN = 1000
"""Sequential scans reading fewer rows than this on average are cheap: no hint."""
MIN_SEQ_SCANS = 20
STATEMENTS_READ = 200
"""How many of the most time-consuming statements are searched for filters."""

_TABLES_SQL = """
SELECT t.schemaname AS schema, t.relname AS "table", t.seq_scan, t.seq_tup_read,
       COALESCE(t.idx_scan, 0) AS idx_scan, t.n_live_tup,
       GREATEST(c.reltuples, t.n_live_tup)::bigint AS row_estimate,
       pg_total_relation_size(t.relid) AS size_bytes,
       pg_size_pretty(pg_total_relation_size(t.relid)) AS size
FROM pg_stat_user_tables t
JOIN pg_class c ON c.oid = t.relid
WHERE t.seq_scan >= %s AND t.seq_tup_read / t.seq_scan >= %s
ORDER BY t.seq_tup_read DESC
LIMIT 20
"""

_LEADING_COLUMNS_SQL = """
SELECT c.relname AS "table", a.attname AS "column"
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE c.relname = ANY(%s)
"""

_COLUMNS_SQL = """
SELECT c.relname AS "table", a.attname AS "column"
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
"""

_COMPARISON = r"\s*(?:=|<>|!=|<=|>=|<|>|\bIN\b|\bLIKE\b|\bILIKE\b|\bBETWEEN\b|\bIS\b)"
_UNQUALIFIED = re.compile(rf'(?<![\w."])"?([A-Za-z_]\w*)"?{_COMPARISON}', re.IGNORECASE)


def filtered_columns(
    table: str, statements: Iterable[str], columns: set[str] | None = None
) -> list[str]:
    """Columns of ``table`` compared in the WHERE clauses of ``statements``, first seen first.

    Matches ``"table"."column" = ...`` as Django writes it and the
    ``table.column = ...`` of hand-written SQL; in a statement reading
    ``table`` alone (``FROM table WHERE``), unqualified ``column = ...`` too.
    With ``columns``, only names of the table's real columns are kept.
    """
    name = re.escape(table)
    qualified = re.compile(rf'(?:"{name}"\."(\w+)"|\b{name}\.(\w+)\b){_COMPARISON}', re.IGNORECASE)
    alone = re.compile(rf'\bFROM\s+"?{name}"?\s+WHERE\b', re.IGNORECASE)
    found: list[str] = []
    for sql in statements:
        where = re.split(r"\bWHERE\b", sql, maxsplit=1, flags=re.IGNORECASE)
        if len(where) < 2:
            continue
        names = [quoted or bare for quoted, bare in qualified.findall(where[1])]
        if alone.search(sql):
            names += _UNQUALIFIED.findall(where[1])
        for column in names:
            if column not in found and (columns is None or column in columns):
                found.append(column)
    return found


def index_hints(alias: str, statements: list[str] | None = None) -> Section:
    """Tables whose sequential scans keep reading many rows, most-read first.

    Index scans are not a criterion: a table found by its primary key all day
    can still be scanned whole by one unindexed filter, and that is the hint.
    With ``statements`` (query texts), each row also names ``suggested``
    columns: filtered on, and the leading column of no index.
    """

    def read(cursor: Any) -> list[dict[str, Any]]:
        rows = fetch_rows(cursor, _TABLES_SQL, [MIN_SEQ_SCANS, MIN_ROWS_PER_SCAN])
        tables = [row["table"] for row in rows]
        leading = fetch_rows(cursor, _LEADING_COLUMNS_SQL, [tables]) if tables else []
        indexed = {(row["table"], row["column"]) for row in leading}
        real: dict[str, set[str]] = {}
        for found in fetch_rows(cursor, _COLUMNS_SQL, [tables]) if tables else []:
            real.setdefault(found["table"], set()).add(found["column"])
        for row in rows:
            row["rows_per_scan"] = row["seq_tup_read"] // max(row["seq_scan"], 1)
            scans = row["seq_scan"] + row["idx_scan"]
            row["seq_share"] = round(100 * row["seq_scan"] / scans, 1) if scans else None
            row["suggested"] = [
                column
                for column in filtered_columns(
                    row["table"], statements or [], real.get(row["table"], set())
                )
                if (row["table"], column) not in indexed
            ]
        return rows

    return read_section(alias, read)
