"""Serving a value from the cache while every table it read is unchanged.

A hit costs one round trip: the entry, the namespace token and the current
versions of its tables come in one ``get_many``. On a miss the versions are
taken (or created) *before* the value is computed, so a write that lands
while the query runs leaves the stored entry already outdated.

The tables an entry depends on are those of every statement its computation
ran (aggregate joins, subqueries, prefetches, nested cached reads), seen by a
query observer: a computation that read a table whose version was not taken
beforehand is not stored, and the table is learned for the next miss of that
key. A computation that wrote, or read another database, is never stored.
Any cache error falls back to computing the value; nothing is raised.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connections

from perfkit import observe
from perfkit.cache import serialize, stats, versions
from perfkit.cache.keys import entry_key, tables_in_sql
from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.writes import (
    database_identity,
    database_of,
    in_transaction,
    raw_isolation_changed,
    written_in_transaction,
    written_tables,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """What is stored: the pickled value and the tokens it was computed under.

    The value is pickled apart so an outdated entry (every read after a
    write) is discarded without unpickling its rows.
    """

    value: bytes
    tables: tuple[str, ...]
    versions: tuple[str, ...]
    namespace: str

    def load(self) -> Any:
        return serialize.loads(self.value)


@dataclass
class Capture:
    """The tables read by the statements (and nested cached reads) of one computation."""

    database: str
    tables: set[str] = field(default_factory=set)
    unstorable: bool = False

    def query(
        self, alias: str, sql: str, params: Any, many: bool, duration: float, failed: bool
    ) -> None:
        if written_tables(sql) or database_identity(alias) != self.database:
            self.unstorable = True
        else:
            self.tables |= tables_in_sql(sql)


_captures: contextvars.ContextVar[tuple[Capture, ...]] = contextvars.ContextVar(
    "perfkit_cache_captures", default=()
)


@contextmanager
def capturing(database: str) -> Iterator[Capture]:
    capture = Capture(database)
    token = _captures.set((*_captures.get(), capture))
    with observe.observing(capture):
        try:
            yield capture
        finally:
            _captures.reset(token)


def _report_to_enclosing(database: str, tables: Iterable[str]) -> None:
    """A nested hit ran no SQL: the computations around it still read its tables."""
    for capture in _captures.get():
        if capture.database == database:
            capture.tables.update(tables)
        else:
            capture.unstorable = True


# Tables a key's computation read beyond those predicted from its SQL.
_learned: dict[str, frozenset[str]] = {}
_LEARNED_SIZE = 4096


def _learn(key: str, tables: Iterable[str]) -> None:
    if len(_learned) >= _LEARNED_SIZE:
        _learned.clear()
    _learned[key] = _learned.get(key, frozenset()).union(tables)


def storable(using: str) -> bool:
    """Whether a result read now may be stored (see design: snapshots may predate versions)."""
    connection = connections[using]
    if not in_transaction(connection):
        return True
    if connection.vendor != "postgresql" or raw_isolation_changed(connection):
        return False
    from psycopg import IsolationLevel

    return getattr(connection, "isolation_level", None) == IsolationLevel.READ_COMMITTED


def fetch(
    *,
    using: str,
    key_parts: tuple[Any, ...],
    tables: Iterable[str],
    label: str,
    timeout: int | None,
    compute: Callable[[], T],
    restore: Callable[[T], T] | None = None,
    shape: tuple[Any, ...] | None = None,
) -> T:
    """The cached value of ``compute()`` for a query on ``tables`` through ``using``.

    ``restore`` is applied to a value loaded from the cache (to re-attach
    objects that must be the caller's own, not stored copies). ``shape``
    (the key parts without parameters) is what learned tables are kept under,
    so a new parameter value does not have to learn them again.
    """
    if not perfkit_settings.CACHE_ENABLED:
        return compute()
    database = database_identity(using)
    key = entry_key(database, *key_parts)

    def shape_key() -> str:  # what learned tables are kept under
        return key if shape is None else entry_key(database, *shape)

    # Hashing the shape costs as much as the key: only when something was learned.
    ordered = sorted(set(tables).union(_learned.get(shape_key(), ()) if _learned else ()))
    if written_in_transaction(using).intersection(ordered):
        stats.count("bypasses", label)  # read your own uncommitted write
        return compute()
    if not versions.retry_failed_bumps():
        stats.count("errors", label)
        return compute()
    if database_of(using) != using and timeout is None:
        return compute()  # replica reads are cached only with an explicit timeout
    token_keys = [versions.NAMESPACE_KEY, *(versions.version_key(database, t) for t in ordered)]
    cache = versions.backend()
    try:
        found = cache.get_many([key, *token_keys])
        entry = found.get(key)
        if isinstance(entry, Entry) and _fresh(entry, found, database, ordered):
            if not set(entry.tables).issubset(ordered):  # learned by another process
                _learn(shape_key(), entry.tables)
            value: T = entry.load()
            stats.count("hits", label)
            _report_to_enclosing(database, entry.tables)
            return restore(value) if restore is not None else value
    except Exception as exc:
        errors.report("cache read", exc)
        stats.count("errors", label)
        return compute()
    stats.count("misses", label)
    if not storable(using):
        return compute()
    tokens = tuple(found.get(k) for k in token_keys)
    try:
        if None in tokens:
            created = versions.create_missing(
                k for k, t in zip(token_keys, tokens, strict=True) if t is None
            )
            tokens = tuple(found.get(k) or created.get(k) for k in token_keys)
    except Exception as exc:
        errors.report("cache read", exc)
        stats.count("errors", label)
        return compute()
    with capturing(database) as capture:
        value = compute()
    unseen = capture.tables.difference(ordered)
    if unseen:
        _learn(shape_key(), unseen)
    if None in tokens or unseen or capture.unstorable:
        return value
    _store(key, value, tuple(ordered), tokens, timeout, label)
    return value


def _fresh(entry: Entry, found: dict[str, Any], database: str, ordered: list[str]) -> bool:
    """Whether every table ``entry`` read still has the version it was computed under."""
    if entry.namespace != found.get(versions.NAMESPACE_KEY):
        return False
    missing = [t for t in entry.tables if t not in ordered]
    if missing:  # another process learned tables this one has not: fetch their versions too
        found = {
            **found,
            **versions.backend().get_many([versions.version_key(database, t) for t in missing]),
        }
    current = tuple(found.get(versions.version_key(database, t)) for t in entry.tables)
    return None not in current and current == entry.versions


def _store(
    key: str,
    value: Any,
    tables: tuple[str, ...],
    tokens: tuple[Any, ...],
    timeout: int | None,
    label: str,
) -> None:
    try:
        result = versions.backend().set(  # type: ignore[func-returns-value]
            key,
            Entry(
                serialize.dumps(value),
                tables,
                tuple(str(t) for t in tokens[1:]),
                str(tokens[0]),
            ),
            timeout if timeout is not None else perfkit_settings.CACHE_DEFAULT_TIMEOUT,
        )
    except Exception as exc:
        errors.report("cache store", exc)
        stats.count("errors", label)
        return
    if result is False:  # django-redis tells a failed set (IGNORE_EXCEPTIONS hides the rest)
        stats.count("errors", label)
    else:
        stats.count("stores", label)
