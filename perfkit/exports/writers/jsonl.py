"""JSON Lines: one compact JSON object per row, keyed by column name."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from perfkit.exports.columns import Column
from perfkit.exports.formats import Kind, format_float, kind_of, text_formatter
from perfkit.exports.writers.base import ExportWriter

# Kinds whose values are JSON-native already; the others become format-table text.
_NATIVE_KINDS = frozenset({Kind.INTEGER, Kind.BOOLEAN, Kind.JSON})


def _json_float(value: float) -> float | str:
    # JSON has no Infinity or NaN: write them as the format table's text.
    return value if math.isfinite(value) else format_float(value)


def json_value(column: Column) -> Callable[[Any], Any]:
    """Per column, a function from a value to its JSON-native value."""
    kind = kind_of(column)
    if kind in _NATIVE_KINDS:
        return lambda value: value
    if kind is Kind.FLOAT:
        return lambda value: None if value is None else _json_float(value)
    if kind in (Kind.TEXT, Kind.OTHER):
        # Text is left as is: no formula neutralization outside spreadsheets.
        return _plain_text
    as_text = text_formatter(column)
    return lambda value: None if value is None else as_text(value)


def _plain_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


class JsonLinesWriter(ExportWriter):
    """UTF-8 JSON Lines; numbers stay numbers, decimals are strings at scale."""

    format = "jsonl"
    extension = "jsonl"
    content_type = "application/x-ndjson; charset=utf-8"

    def __init__(self, path: str | Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        self._names = [column.name for column in self.columns]
        self._values = [json_value(column) for column in self.columns]
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode
        self._file = self.path.open("w", encoding="utf-8", newline="")

    def write_header(self) -> None:
        """JSON Lines has no header: every object carries its keys."""

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> int:
        names, values, encode, write = self._names, self._values, self._encode, self._file.write
        count = 0
        for row in rows:
            obj = {name: value(item) for name, value, item in zip(names, values, row, strict=True)}
            write(encode(obj))
            write("\n")
            count += 1
        self.rows_written += count
        return count

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()
