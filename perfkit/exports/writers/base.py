"""The export writer contract every format implements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from perfkit.exports.columns import Column


class ExportWriter:
    """Writes one export file to a local path.

    The job calls ``write_header()`` once, ``write_rows()`` any number of
    times with tuples of Python values in column order (what
    ``values_list(*names)`` yields), then ``close()``, which finishes the
    file. Rows are written as they come, never held in memory. A writer is
    a context manager that closes on exit; the file is complete only after
    a ``close()`` that did not raise. Formats follow ``perfkit.exports.formats``.
    """

    format: ClassVar[str]
    extension: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, path: str | Path, columns: list[Column]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.rows_written = 0
        self.closed = False

    @classmethod
    def available(cls) -> bool:
        """Whether this format can be written here (its optional library is installed)."""
        return True

    def write_header(self) -> None:
        """Write the labels row (formats without one do nothing)."""
        raise NotImplementedError

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> int:
        """Write ``rows`` and return how many were written by this call."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file and release it; calling it again does nothing."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
