"""Export writers, one per format, behind ``ExportWriter`` (see ``base.py``)."""

from __future__ import annotations

from perfkit.exports.writers.base import ExportWriter
from perfkit.exports.writers.csv import CsvWriter
from perfkit.exports.writers.jsonl import JsonLinesWriter
from perfkit.exports.writers.xlsx import XlsxWriter

WRITERS: dict[str, type[ExportWriter]] = {
    CsvWriter.format: CsvWriter,
    JsonLinesWriter.format: JsonLinesWriter,
    XlsxWriter.format: XlsxWriter,
}


def get_writer(fmt: str) -> type[ExportWriter]:
    """The writer class for ``fmt`` ("csv", "jsonl" or "xlsx")."""
    try:
        return WRITERS[fmt]
    except KeyError:
        *first, last = WRITERS
        raise ValueError(
            f"Unknown export format {fmt!r}; choose {', '.join(first)} or {last}"
        ) from None


__all__ = ["WRITERS", "CsvWriter", "ExportWriter", "JsonLinesWriter", "XlsxWriter", "get_writer"]
