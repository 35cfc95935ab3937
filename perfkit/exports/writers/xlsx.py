"""XLSX through XlsxWriter in constant-memory mode (the ``xlsx`` extra).

Text is always a string cell (``write_string``), never a formula or a link;
text that looks like a formula also gets Excel's "quote prefix" style, so it
stays text even when a user edits the cell. Booleans are Excel booleans and
numbers Excel numbers, except where a double would lose digits: integers of
16 digits or more and decimals of more than 15 significant digits are
written as the format table's text. Decimals use a number format at the
field's scale. Datetimes are Excel datetimes: aware ones converted to UTC
(the header says nothing about it, the docs do), shown to the millisecond,
which is Excel's own precision; dates and times likewise. Values Excel
cannot hold (years before 1900, non-finite floats, UUIDs, JSON) are the
format table's text. Strings past Excel's 32,767-character cell limit are
truncated by XlsxWriter; more rows than a sheet holds raise ``ValueError``.
"""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from perfkit.exports.columns import Column
from perfkit.exports.formats import (
    Kind,
    decimal_places,
    format_decimal,
    format_float,
    kind_of,
    looks_like_formula,
    text_formatter,
)
from perfkit.exports.writers.base import ExportWriter

MAX_ROWS = 1_048_576  # rows in an Excel sheet, header included
MAX_EXACT_INTEGER = 10**15  # Excel shows 15 significant digits

CellWriter = Callable[[Any, int, int, Any], object]


class XlsxWriter(ExportWriter):
    """One worksheet, a bold header row, one row per exported row."""

    format = "xlsx"
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("xlsxwriter") is not None

    def __init__(self, path: str | Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        try:
            import xlsxwriter
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise ImportError("XLSX exports need XlsxWriter: pip install 'perfkit[xlsx]'") from exc
        self._workbook = xlsxwriter.Workbook(str(self.path), {"constant_memory": True})
        self._sheet = self._workbook.add_worksheet()
        self._formats: dict[str, Any] = {}
        self._cells = [self._cell_writer(column) for column in self.columns]
        self._row = 0

    def _format(self, num_format: str | None = None, **properties: Any) -> Any:
        key = repr((num_format, sorted(properties.items())))
        if key not in self._formats:
            if num_format is not None:
                properties["num_format"] = num_format
            self._formats[key] = self._workbook.add_format(properties)
        return self._formats[key]

    def _string(self, sheet: Any, row: int, col: int, text: str, bold: bool = False) -> object:
        if looks_like_formula(text):
            return sheet.write_string(row, col, text, self._format(quote_prefix=True, bold=bold))
        return sheet.write_string(row, col, text, self._format(bold=True) if bold else None)

    def _cell_writer(self, column: Column) -> CellWriter:
        kind = kind_of(column)
        as_text = text_formatter(column)
        if kind is Kind.BOOLEAN:
            return lambda sheet, row, col, value: sheet.write_boolean(row, col, bool(value))
        if kind is Kind.INTEGER:
            return self._integer_writer()
        if kind is Kind.FLOAT:
            return self._float_writer()
        if kind is Kind.DECIMAL:
            return self._decimal_writer(decimal_places(column))
        if kind in (Kind.DATETIME, Kind.DATE, Kind.TIME):
            return self._datetime_writer(kind, as_text)
        if kind in (Kind.UUID, Kind.JSON):
            return lambda sheet, row, col, value: sheet.write_string(row, col, as_text(value))
        return self._text_writer()

    def _text_writer(self) -> CellWriter:
        def write(sheet: Any, row: int, col: int, value: Any) -> object:
            if isinstance(value, bytes | memoryview):
                value = bytes(value).hex()
            return self._string(sheet, row, col, value if isinstance(value, str) else str(value))

        return write

    def _integer_writer(self) -> CellWriter:
        def write(sheet: Any, row: int, col: int, value: int) -> object:
            if -MAX_EXACT_INTEGER < value < MAX_EXACT_INTEGER:
                return sheet.write_number(row, col, value)
            return sheet.write_string(row, col, str(value))

        return write

    def _float_writer(self) -> CellWriter:
        def write(sheet: Any, row: int, col: int, value: float) -> object:
            if math.isfinite(value):
                return sheet.write_number(row, col, value)
            return sheet.write_string(row, col, format_float(value))

        return write

    def _decimal_writer(self, places: int) -> CellWriter:
        number_format = self._format("0." + "0" * places if places else "0")

        def write(sheet: Any, row: int, col: int, value: decimal.Decimal) -> object:
            if value.is_finite() and len(value.as_tuple().digits) <= 15:
                return sheet.write_number(row, col, float(value), number_format)
            return sheet.write_string(row, col, format_decimal(value, places))

        return write

    def _datetime_writer(self, kind: Kind, as_text: Callable[[Any], str]) -> CellWriter:
        patterns = {
            Kind.DATETIME: "yyyy-mm-dd hh:mm:ss.000",
            Kind.DATE: "yyyy-mm-dd",
            Kind.TIME: "hh:mm:ss.000",
        }
        cell_format = self._format(patterns[kind])

        def write(sheet: Any, row: int, col: int, value: Any) -> object:
            if isinstance(value, datetime.date) and value.year < 1900:
                return sheet.write_string(row, col, as_text(value))
            if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            return sheet.write_datetime(row, col, value, cell_format)

        return write

    def write_header(self) -> None:
        for col, column in enumerate(self.columns):
            self._string(self._sheet, self._row, col, column.label, bold=True)
        self._row += 1

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> int:
        sheet, cells = self._sheet, self._cells
        count = 0
        for row in rows:
            if self._row >= MAX_ROWS:
                raise ValueError(
                    f"An XLSX sheet holds at most {MAX_ROWS:,} rows (header included); "
                    "export this as CSV or JSON Lines instead"
                )
            for col, (cell, value) in enumerate(zip(cells, row, strict=True)):
                if value is not None:
                    cell(sheet, self._row, col, value)
            self._row += 1
            count += 1
        self.rows_written += count
        return count

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._workbook.close()
