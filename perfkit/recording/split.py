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
    """What became of a batch: dropped rows, rows left for a retry and why.

    ``failed`` is the part (offsets into the items) being written when
    writing stopped, by an error or a ``BaseException`` passing through: it
    may have been applied (a lost reply), so an idempotent writer resends it
    under the same id. ``untried`` are the parts never written.
    """

    dropped: list[T] = field(default_factory=list)
    unwritten: list[T] = field(default_factory=list)
    data_error: BaseException | None = None
    error: Exception | None = None
    failed: tuple[int, int] | None = None
    untried: list[tuple[int, int]] = field(default_factory=list)


def write_in_parts(
    items: Sequence[T],
    write: Callable[[int, Sequence[T]], None],
    outcome: Outcome[T] | None = None,
) -> Outcome[T]:
    """Write ``items`` with ``write(start, part)``, bisecting on data errors.

    ``start`` is the part's offset in ``items`` (for per-part tokens). Each
    call must be all-or-nothing (its own transaction): a part that failed
    wrote nothing and can be split. Pass ``outcome`` to read ``failed`` and
    ``untried`` when a ``BaseException`` ends the writing.
    """
    outcome = outcome if outcome is not None else Outcome()
    stack: list[tuple[int, int]] = [(0, len(items))] if items else []
    outcome.untried = stack  # the same list: always the parts not yet written
    while stack:
        start, stop = outcome.failed = stack.pop()
        try:
            write(start, items[start:stop])
        except Exception as exc:
            if not is_data_error(exc):
                outcome.unwritten = [
                    item for lo, hi in [*stack, (start, stop)] for item in items[lo:hi]
                ]
                outcome.error = exc
                return outcome
            outcome.data_error = exc  # the part wrote nothing
            outcome.failed = None
            if stop - start == 1:
                outcome.dropped.append(items[start])
                continue
            middle = (start + stop) // 2
            stack.append((middle, stop))
            stack.append((start, middle))
            continue
        outcome.failed = None
    return outcome
