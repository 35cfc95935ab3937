"""Writing a batch so that rows the database refuses cannot block the rest.

A batch that fails for its data (a constraint, a value too long, bytes the
driver cannot encode) is bisected: each half is written on its own, down
to single rows, and the rows that still fail are dropped and counted. Any
other error (database down, wrong alias) stops at once and returns what
is left, to be retried at the next flush.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from django.db import DataError, IntegrityError

DATA_ERRORS: tuple[type[BaseException], ...] = (DataError, IntegrityError, UnicodeError)
try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is the optional ``postgres`` extra
    pass
else:
    DATA_ERRORS += (psycopg.DataError, psycopg.IntegrityError)
try:
    import redis
except ImportError:  # pragma: no cover - redis is the optional ``redis`` extra
    pass
else:
    DATA_ERRORS += (redis.DataError,)

T = TypeVar("T")


def is_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the rows were refused for their values."""
    return isinstance(exc, DATA_ERRORS)


@dataclass
class Outcome(Generic[T]):
    """What became of a batch: dropped rows, rows left for a retry and why."""

    dropped: list[T] = field(default_factory=list)
    unwritten: list[T] = field(default_factory=list)
    data_error: BaseException | None = None
    error: Exception | None = None


def write_in_parts(items: Sequence[T], write: Callable[[int, Sequence[T]], None]) -> Outcome[T]:
    """Write ``items`` with ``write(start, part)``, bisecting on data errors.

    ``start`` is the part's offset in ``items`` (for per-part tokens). Each
    call must be all-or-nothing (its own transaction): a part that failed
    wrote nothing and can be split.
    """
    outcome: Outcome[T] = Outcome()
    stack: list[tuple[int, int]] = [(0, len(items))] if items else []
    while stack:
        start, stop = stack.pop()
        try:
            write(start, items[start:stop])
        except Exception as exc:
            if not is_data_error(exc):
                outcome.unwritten = [
                    item for lo, hi in [*stack, (start, stop)] for item in items[lo:hi]
                ]
                outcome.error = exc
                return outcome
            outcome.data_error = exc
            if stop - start == 1:
                outcome.dropped.append(items[start])
                continue
            middle = (start + stop) // 2
            stack.append((middle, stop))
            stack.append((start, middle))
    return outcome
