"""The iterator path's rows, with costly cells formatted by the database.

Loading an aware timestamp costs Python far more than writing its text:
the driver (or Django's SQLite converter) parses it into a ``datetime``,
Django makes it aware, and ``formats.format_datetime`` turns it back into
text. Where the database can write the format table's text itself, the
iterator path selects that text instead (an annotation), and the writers
pass it through (``Column.formatted``), for the same bytes:

- PostgreSQL: aware datetimes, dates, times, decimals and UUIDs, with the
  very SQL of the COPY path (``copy.cell_sql``), under the same conditions
  (``copy.copyable``: no ``from_db_value`` converter, ``USE_TZ`` for
  datetimes);
- SQLite: aware datetimes (``USE_TZ = True``), which Django stores as naive
  UTC text, ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (``str()`` of the datetime:
  no fraction when the microseconds are 0); rewritten as
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` with string functions. Only when the
  connection stores UTC (no ``TIME_ZONE`` in the database settings).

Only CSV and JSON Lines take these cells (XLSX writes typed dates and
numbers). Querysets the annotation could change (set operations, grouping)
and other databases keep the plain ``values_list()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, TextField
from django.db.models.expressions import Expression
from django.db.models.sql.compiler import SQLCompiler

from perfkit.exports.columns import Column
from perfkit.exports.copy import cell_sql, copyable
from perfkit.exports.formats import Kind, kind_of

# Formats whose cells for these kinds are the format table's text.
TEXT_FORMATS = frozenset({"csv", "jsonl"})
_POSTGRESQL_KINDS = frozenset({Kind.DATETIME, Kind.DATE, Kind.TIME, Kind.DECIMAL, Kind.UUID})
_ALIAS = "perfkit_cell_{}"


def _sqlite_datetime(ref: str) -> str:
    # "YYYY-MM-DD HH:MM:SS" plus ".ffffff" when the microseconds are not 0
    # (fewer digits, written by hand, are padded on the right). NULL stays NULL.
    return (
        f"substr({ref}, 1, 10) || 'T' || substr({ref}, 12, 8) || '.' || "
        f"substr(substr({ref}, 21) || '000000', 1, 6) || 'Z'"
    )


class CellText(Expression):
    """The format table's text of one column, written by the database."""

    output_field = TextField()

    def __init__(self, name: str, column: Column) -> None:
        super().__init__(output_field=TextField())
        # An F() until the query resolves it into a column reference.
        self.source: Any = F(name)
        self.column = column

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.source,) = exprs

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        ref, params = compiler.compile(self.source)
        if params:  # a column reference has none; the reference is repeated below
            raise ValueError("CellText formats a plain column only")
        if connection.vendor == "sqlite":
            return _sqlite_datetime(ref), []
        return cell_sql(ref, self.column), []


def formats_in_sql(column: Column, connection: BaseDatabaseWrapper) -> bool:
    """Whether the database writes ``column``'s cells for the iterator path."""
    kind = kind_of(column)
    if connection.vendor == "postgresql":
        return kind in _POSTGRESQL_KINDS and copyable(column, connection)
    if connection.vendor == "sqlite":
        return (
            kind is Kind.DATETIME
            and settings.USE_TZ
            and connection.timezone_name == "UTC"
            and not _has_converter(column)
        )
    return False


def _has_converter(column: Column) -> bool:
    field = column.field
    return hasattr(field, "from_db_value") or hasattr(
        getattr(field, "target_field", None), "from_db_value"
    )


def formatted_values(
    queryset: models.QuerySet[Any], columns: list[Column], fmt: str
) -> tuple[models.QuerySet[Any], list[Column]]:
    """``queryset.values_list()`` of ``columns``, costly cells as text where possible.

    Returns the values queryset and the columns, those the database formats
    marked ``formatted``.
    """
    names = [column.name for column in columns]
    plain = queryset.values_list(*names)
    query = queryset.query
    if fmt not in TEXT_FORMATS or query.combinator or query.group_by is not None:
        return plain, columns
    connection = connections[queryset.db]
    annotations: dict[str, Any] = {}
    selected, marked = [], []
    for index, column in enumerate(columns):
        if formats_in_sql(column, connection):
            alias = _ALIAS.format(index)
            annotations[alias] = CellText(column.name, column)
            selected.append(alias)
            marked.append(dataclasses.replace(column, formatted=True))
        else:
            selected.append(column.name)
            marked.append(column)
    if not annotations:
        return plain, columns
    return queryset.annotate(**annotations).values_list(*selected), marked
