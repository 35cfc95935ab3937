"""CSV that tells NULL from the empty string, byte for byte like PostgreSQL's COPY."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from perfkit.exports.columns import Column
from perfkit.exports.formats import Kind, kind_of, neutralize, text_formatter
from perfkit.exports.writers.base import ExportWriter

# Python 3.11's csv module writes None and "" the same way, hence this writer.
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
# Only these kinds can produce text that needs quoting (or is empty).
_QUOTED_KINDS = frozenset({Kind.TEXT, Kind.OTHER, Kind.JSON})


def quote(text: str) -> str:
    """Quote a non-NULL cell the way PostgreSQL's CSV COPY does."""
    if not text or _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _quote_single(text: str) -> str:
    # In a one-column file PostgreSQL also quotes "\." (its old end-of-data marker).
    return '"\\."' if text == "\\." else quote(text)


def cell_writers(columns: list[Column]) -> list[Callable[[Any], str]]:
    """Per column, a function from a value to its final CSV field."""
    quote_cell = _quote_single if len(columns) == 1 else quote
    cells = []
    for column in columns:
        format_value = text_formatter(column)
        if kind_of(column) in _QUOTED_KINDS:
            cells.append(_cell(format_value, quote_cell))
        else:
            cells.append(_cell(format_value, None))
    return cells


def _cell(
    format_value: Callable[[Any], str], quote_cell: Callable[[str], str] | None
) -> Callable[[Any], str]:
    if quote_cell is None:
        return lambda value: "" if value is None else format_value(value)
    return lambda value: "" if value is None else quote_cell(format_value(value))


def header_line(columns: list[Column]) -> str:
    """The labels row, with its line ending (copy.py writes the same bytes)."""
    quote_cell = _quote_single if len(columns) == 1 else quote
    return ",".join(quote_cell(neutralize(column.label)) for column in columns) + "\n"


class CsvWriter(ExportWriter):
    """UTF-8 CSV without BOM, ``\\n`` line endings, PostgreSQL quoting."""

    format = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, path: str | Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        self._cells = cell_writers(self.columns)
        self._file = self.path.open("w", encoding="utf-8", newline="")

    def write_header(self) -> None:
        self._file.write(header_line(self.columns))

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> int:
        cells = self._cells
        write = self._file.write
        count = 0
        for row in rows:
            write(",".join([cell(value) for cell, value in zip(cells, row, strict=True)]))
            write("\n")
            count += 1
        self.rows_written += count
        return count

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()
