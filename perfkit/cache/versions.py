"""Table version tokens and the namespace token, kept in the Django cache.

A table's version is a random token, *set* on every committed write (never
incremented: an evicted counter restarting at 1 would revive old entries).
A missing version is a miss; the reader adds a new token with ``add`` before
its query runs, so it can never overwrite a writer's newer token. Versions
belong to a database, not an alias (see :func:`perfkit.writes.database_of`).

The namespace token is compared like a version: ``perfkit_cache_clear``
replaces it, and every entry stored under the old one stops being served.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable

import django
from django.core.cache import BaseCache, caches

import perfkit
from perfkit.conf import perfkit_settings
from perfkit.recording import errors

# Entries hold pickled model instances: a new perfkit or Django starts afresh.
PREFIX = f"perfkit:{perfkit.__version__}:dj{django.__version__}"
NAMESPACE_KEY = f"{PREFIX}:ns"
VERSION_TIMEOUT = 30 * 86400


def backend() -> BaseCache:
    return caches[perfkit_settings.CACHE_ALIAS]


def new_token() -> str:
    return uuid.uuid4().hex[:16]


def version_key(database: str, table: str) -> str:
    return f"{PREFIX}:v:{database}:{table}"


# Bumps that failed; retried before this process serves a cached read again.
_failed: set[tuple[str, str]] = set()
_failed_lock = threading.Lock()
# Holds True while a namespace reset (``clear()``) has not reached the cache.
_namespace_pending: set[bool] = set()


def bump(database: str, tables: Iterable[str]) -> bool:
    """Give ``tables`` new tokens; a failure is remembered and retried."""
    wanted = {(database, table) for table in tables}
    if not wanted:
        return True
    tokens = {version_key(db, table): new_token() for db, table in wanted}
    try:
        failed_keys = backend().set_many(tokens, timeout=VERSION_TIMEOUT)
        ok = not failed_keys
    except Exception as exc:
        errors.report("cache version bump", exc)
        ok = False
    with _failed_lock:
        if ok:
            _failed.difference_update(wanted)
        else:
            _failed.update(wanted)
    return ok


def retry_failed_bumps() -> bool:
    """Retry failed bumps and resets; True when none is left (cached reads may be served)."""
    if not _failed and not _namespace_pending:
        return True
    if _namespace_pending and not reset_namespace():
        return False
    with _failed_lock:
        pending = set(_failed)
    by_database: dict[str, set[str]] = {}
    for database, table in pending:
        by_database.setdefault(database, set()).add(table)
    return all(bump(database, tables) for database, tables in by_database.items())


def pending_bumps() -> frozenset[tuple[str, str]]:
    with _failed_lock:
        return frozenset(_failed)


def forget_failed_bumps() -> None:
    """Drop remembered failures (tests)."""
    with _failed_lock:
        _failed.clear()
        _namespace_pending.clear()


def create_missing(keys: Iterable[str]) -> dict[str, str]:
    """Add new tokens for missing version or namespace keys; return the current ones."""
    wanted = list(keys)
    cache = backend()
    for key in wanted:
        cache.add(key, new_token(), timeout=VERSION_TIMEOUT)
    found = cache.get_many(wanted)
    return {key: str(value) for key, value in found.items()}


def reset_namespace() -> bool:
    """Start a new namespace: every stored entry stops being served at once.

    A failure is remembered and retried, like a failed bump; never raises.
    """
    try:
        ok = backend().set(NAMESPACE_KEY, new_token(), timeout=None) is not False  # type: ignore[func-returns-value]
    except Exception as exc:
        errors.report("cache namespace reset", exc)
        ok = False
    with _failed_lock:
        if ok:
            _namespace_pending.clear()
        else:
            _namespace_pending.add(True)
    return ok
