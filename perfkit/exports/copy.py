"""The PostgreSQL fast path: ``COPY (SELECT …) TO STDOUT``, same bytes as ``CsvWriter``.

The queryset's own SQL (``values_list(*names)`` compiled for its database)
becomes a subquery; the outer ``SELECT`` formats each column by the format
table in ``formats.py``, and PostgreSQL's CSV output does the quoting: NULL
is an empty unquoted field, the empty string ``""``, fields holding ``,``
``"`` CR or LF are quoted with doubled quotes, rows end with ``\\n``.

Ordering: the subquery keeps its ``ORDER BY``, and the outer query is one
scan of it with no join, grouping or ``DISTINCT``. PostgreSQL never pulls a
sorted subquery up into its parent, and a plain scan of it emits rows in the
order it produced them, so the file has the queryset's order (the same
guarantee every "select from an ordered subquery" relies on; moving the
ordering outside would mean re-deriving Django's ORDER BY expressions).

Columns go through here only when the SQL formatting is known to match the
Python one (``can_copy``): JSON (jsonb text differs from Python's JSON in
spacing, key order and numbers), fields with Python-side converters, and
naive datetimes (``USE_TZ = False``) take the iterator path. Floats are
supported: ``float8::text`` is shortest-round-trip when ``extra_float_digits``
is positive (PostgreSQL 12+'s default), which ``can_copy`` checks.

``cursor.copy()`` bypasses Django's execute wrappers: a COPY is invisible to
query counts and to write detection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit.exports.columns import Column
from perfkit.exports.formats import (
    FORMULA_WHITESPACE,
    Kind,
    decimal_places,
    kind_of,
    value_field,
)
from perfkit.exports.writers.csv import header_line

# Code points of tab and CR (triggers by themselves as the first character),
# of = + - @ (triggers as the first character after leading whitespace) and
# the whitespace set itself, as chr() calls PostgreSQL folds into a constant.
_FIRST = ", ".join(str(ord(char)) for char in "\t\r")
_SIGNS = ", ".join(str(ord(char)) for char in "=+-@")
_WHITESPACE = " || ".join(f"chr({ord(char)})" for char in FORMULA_WHITESPACE)
_OPTIONS = (
    "FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULL '', ENCODING 'UTF8'"
)


def _text(ref: str, column: Column) -> str:
    # formats.looks_like_formula(), in SQL (ascii() of an empty string is 0).
    return (
        f"CASE WHEN ascii({ref}) IN ({_FIRST}) "
        f"OR ascii(ltrim({ref}, {_WHITESPACE})) IN ({_SIGNS}) "
        f"THEN '''' || {ref} ELSE {ref}::text END"
    )


def _cast(ref: str, column: Column) -> str:
    return f"{ref}::text"


def _decimal(ref: str, column: Column) -> str:
    return f"round({ref}, {decimal_places(column)})::text"


def _boolean(ref: str, column: Column) -> str:
    return f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END"


def _datetime(ref: str, column: Column) -> str:
    return f"""to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _date(ref: str, column: Column) -> str:
    return f"to_char({ref}, 'YYYY-MM-DD')"


def _time(ref: str, column: Column) -> str:
    return f"to_char({ref}, 'HH24:MI:SS.US')"


_EXPRESSIONS: dict[Kind, Callable[[str, Column], str]] = {
    Kind.TEXT: _text,
    Kind.INTEGER: _cast,
    Kind.FLOAT: _cast,
    Kind.UUID: _cast,
    Kind.DECIMAL: _decimal,
    Kind.BOOLEAN: _boolean,
    Kind.DATETIME: _datetime,
    Kind.DATE: _date,
    Kind.TIME: _time,
}


def cell_sql(ref: str, column: Column) -> str:
    """The SQL text of ``column``'s CSV cell, from the SQL expression ``ref`` (a copyable kind).

    ``ref`` may appear several times in the result: pass a column reference.
    """
    return _EXPRESSIONS[kind_of(column)](ref, column)


def copyable(column: Column, connection: BaseDatabaseWrapper) -> bool:
    """Whether ``cell_sql`` formats ``column`` exactly as ``formats.py`` does (PostgreSQL)."""
    return _copyable(column, connection)


def can_copy(queryset: models.QuerySet[Any], columns: list[Column]) -> bool:
    """Whether ``copy_csv`` can write this export (PostgreSQL, psycopg 3, known types)."""
    connection = connections[queryset.db]
    # Django's PostgreSQL backend runs on psycopg 2 too, which has no copy().
    driver = getattr(connection, "Database", None)
    if connection.vendor != "postgresql" or getattr(driver, "__name__", "") != "psycopg":
        return False
    if not all(_copyable(column, connection) for column in columns):
        return False
    if any(kind_of(column) is Kind.FLOAT for column in columns):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('extra_float_digits')::int")
            row = cursor.fetchone()
        return bool(row and row[0] > 0)
    return True


def _copyable(column: Column, connection: BaseDatabaseWrapper) -> bool:
    kind = kind_of(column)
    if kind not in _EXPRESSIONS:
        return False
    if kind is Kind.DATETIME and not settings.USE_TZ:
        return False
    if kind is Kind.FLOAT and value_field(column.field).db_type(connection) != "double precision":
        return False
    # A converter (from_db_value) gives Python other values than the SQL sees.
    fields = (column.field, value_field(column.field))
    return not any(hasattr(field, "from_db_value") for field in fields)


def copy_sql(queryset: models.QuerySet[Any], columns: list[Column]) -> tuple[str, tuple[Any, ...]]:
    """The ``COPY … TO STDOUT`` statement and its parameters (``EmptyResultSet`` if none)."""
    values = queryset.values_list(*[column.name for column in columns])
    # Query.sql_with_params() compiles for the default alias; use the queryset's.
    inner, params = values.query.get_compiler(using=values.db).as_sql()
    aliases = [f"c{index}" for index in range(len(columns))]
    select = ", ".join(
        cell_sql(f"q.{alias}", column) for alias, column in zip(aliases, columns, strict=True)
    )
    sql = (
        f"COPY (SELECT {select} FROM ({inner}) AS q ({', '.join(aliases)})) "
        f"TO STDOUT WITH ({_OPTIONS})"
    )
    if not params:
        # psycopg merges placeholders only when there are parameters; without
        # any, undo the %-escaping Django's SQL carries for execute().
        sql = sql.replace("%%", "%")
    return sql, tuple(params)


def copy_csv(queryset: models.QuerySet[Any], columns: list[Column], path: str | Path) -> int:
    """Write the CSV export of ``queryset`` to ``path`` through COPY; return the row count.

    Call only when ``can_copy(queryset, columns)`` is true.
    """
    connection = connections[queryset.db]
    with Path(path).open("wb") as out:
        out.write(header_line(columns).encode("utf-8"))
        try:
            sql, params = copy_sql(queryset, columns)
        except EmptyResultSet:
            return 0
        with connection.cursor() as cursor, connection.wrap_database_errors:
            raw = cursor.cursor  # psycopg's own cursor: Django's has no copy()
            with raw.copy(sql, params) as copy:
                for block in copy:
                    out.write(block)
            return int(raw.rowcount)
