"""Serving a value from the cache while every table it read is unchanged.

A hit costs one round trip: the entry, the namespace token and the current
versions of its tables come in one ``get_many``. On a miss the versions are
taken (or created) *before* the value is computed, so a write that lands
while the query runs leaves the stored entry already outdated. Any cache
error falls back to computing the value; nothing is raised.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections

from perfkit.cache import stats, versions
from perfkit.cache.keys import entry_key
from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.writes import database_of, written_in_transaction

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """What is stored: the pickled value and the tokens it was computed under.

    The value is pickled apart so an outdated entry (every read after a
    write) is discarded without unpickling its rows.
    """

    value: bytes
    versions: tuple[str, ...]
    namespace: str

    def load(self) -> Any:
        return pickle.loads(self.value)


def storable(using: str) -> bool:
    """Whether a result read now may be stored (see design: snapshots may predate versions)."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return True
    if connection.vendor != "postgresql":
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
) -> T:
    """The cached value of ``compute()`` for a query on ``tables`` through ``using``."""
    if not perfkit_settings.CACHE_ENABLED:
        return compute()
    ordered = sorted(set(tables))
    if written_in_transaction(using).intersection(ordered):
        stats.count("bypasses", label)  # read your own uncommitted write
        return compute()
    if not versions.retry_failed_bumps():
        stats.count("errors", label)
        return compute()
    database = database_of(using)
    if database != using and timeout is None:
        return compute()  # replica reads are cached only with an explicit timeout
    key = entry_key(database, *key_parts)
    token_keys = [versions.NAMESPACE_KEY, *(versions.version_key(database, t) for t in ordered)]
    cache = versions.backend()
    try:
        found = cache.get_many([key, *token_keys])
    except Exception as exc:
        errors.report("cache read", exc)
        stats.count("errors", label)
        return compute()
    tokens = tuple(found.get(k) for k in token_keys)
    entry = found.get(key)
    fresh = (
        isinstance(entry, Entry)
        and None not in tokens
        and entry.namespace == tokens[0]
        and entry.versions == tokens[1:]
    )
    if fresh:
        stats.count("hits", label)
        return entry.load()  # type: ignore[union-attr, no-any-return]
    stats.count("misses", label)
    if not storable(using):
        return compute()
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
    value = compute()
    if None in tokens:
        return value
    try:
        result = cache.set(  # type: ignore[func-returns-value]
            key,
            Entry(
                pickle.dumps(value, pickle.HIGHEST_PROTOCOL),
                tuple(str(t) for t in tokens[1:]),
                str(tokens[0]),
            ),
            timeout if timeout is not None else perfkit_settings.CACHE_DEFAULT_TIMEOUT,
        )
    except Exception as exc:
        errors.report("cache store", exc)
        stats.count("errors", label)
        return value
    if result is False:  # django-redis tells a failed set (IGNORE_EXCEPTIONS hides the rest)
        stats.count("errors", label)
    else:
        stats.count("stores", label)
    return value
