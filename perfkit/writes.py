"""Write detection at the SQL: every write passes through the execute wrapper.

Model signals miss ``QuerySet.update()``, ``bulk_create()``, fast deletes, raw
SQL and m2m through-table writes. The statement listener here notes the tables
each ``INSERT``/``UPDATE``/``DELETE``/``TRUNCATE``/DDL statement writes and
sends :data:`perfkit.signals.tables_changed` when the write is committed: at
once in autocommit, otherwise at the connection's real COMMIT (the end of the
outermost ``atomic()`` block, or ``commit()`` under ``set_autocommit(False)``),
before any ``on_commit`` callback of that transaction runs; never after a
rollback. A rolled-back savepoint's tables are still sent (safe: a needless
invalidation). Raw SQL changing the isolation level is noted too, so results
read under it are not stored.
psycopg's ``cursor.copy()`` bypasses execute wrappers: COPY is not seen.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit import sqlnames
from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.signals import tables_changed

_CASCADE = re.compile(r"\bTRUNCATE\b.*\bCASCADE\b", re.IGNORECASE | re.DOTALL)
_cache: dict[str, frozenset[str]] = {}
_CACHE_SIZE = 4096
_EMPTY: frozenset[str] = frozenset()
# Cached for statements that change the isolation level: "tables" no real table has.
_ISOLATION_TRANSACTION = frozenset({"\x00isolation:transaction"})
_ISOLATION_SESSION = frozenset({"\x00isolation:session"})


def written_tables(sql: str) -> frozenset[str]:
    """Tables a statement writes, in canonical form (empty for reads); cached per SQL string."""
    found = _classify(sql)
    return _EMPTY if found is _ISOLATION_SESSION or found is _ISOLATION_TRANSACTION else found


def _classify(sql: str) -> frozenset[str]:
    """The tables ``sql`` writes, or an isolation marker; cached per SQL string."""
    found = _cache.get(sql)
    if found is not None:
        return found
    isolation = sqlnames.isolation_change(sql)
    if isolation is not None:
        found = _ISOLATION_SESSION if isolation == "session" else _ISOLATION_TRANSACTION
    else:
        found = sqlnames.written_tables(sql)
        if found and _CASCADE.search(sql):
            found = _referencing(found)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[sql] = found
    return found


def _referencing(tables: frozenset[str]) -> frozenset[str]:
    """``tables`` and every table referencing them, transitively (``TRUNCATE ... CASCADE``).

    Foreign keys Django does not know about are bounded only by the TTL.
    """
    found, grew = set(tables), True
    models = apps.get_models(include_auto_created=True)  # auto-created: m2m through tables
    while grew:
        grew = False
        for model in models:
            table = sqlnames.canonical(model._meta.db_table)
            if table in found:
                continue
            for field in model._meta.concrete_fields:
                target = field.related_model
                if (
                    target is not None
                    and not isinstance(target, str)
                    and sqlnames.canonical(target._meta.db_table) in found
                ):
                    found.add(table)
                    grew = True
                    break
    return frozenset(found)


def database_of(alias: str) -> str:
    """The alias owning the data ``alias`` reads: replicas share their primary's.

    A replica is declared by ``PERFKIT["CACHE_REPLICAS"]`` (``{"replica":
    "default"}``) or by ``DATABASES[alias]["TEST"]["MIRROR"]``.
    """
    replicas = perfkit_settings.CACHE_REPLICAS
    if alias in replicas:
        return str(replicas[alias])
    mirror = connections.settings[alias].get("TEST", {}).get("MIRROR")
    return str(mirror) if mirror else alias


_identities: dict[tuple[str, ...], str] = {}


def database_identity(alias: str) -> str:
    """A short stable name of the physical database ``alias`` reads (its primary's).

    Built from the primary's ENGINE, HOST, PORT and NAME, never from the alias
    name: two projects, or two test runs, that share one cache but not one
    database never share cached entries or versions. Every process writing a
    database must therefore spell its HOST, PORT and NAME alike.
    """
    config = connections.settings[database_of(alias)]
    parts = tuple(str(config.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME"))
    found = _identities.get(parts)
    if found is None:
        digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
        found = _identities[parts] = digest
    return found


# Tables written by the open transaction of a connection object, sent when it commits.
_PENDING = "_perfkit_pending_tables"
_HOOKED = "_perfkit_commit_hooked"


def _pending_of(connection: BaseDatabaseWrapper) -> set[str]:
    pending: set[str] | None = getattr(connection, _PENDING, None)
    if pending is None:
        pending = set()
        setattr(connection, _PENDING, pending)
    return pending


def _hook_transaction_end(connection: BaseDatabaseWrapper) -> None:
    """Send the pending tables at the real COMMIT, drop them at ROLLBACK; once per object.

    Django runs ``on_commit`` callbacks after ``commit()`` returns, so tables
    sent from ``_commit`` are invalidated before any user callback of that
    transaction, and at the COMMIT of a manual (``set_autocommit(False)``)
    transaction too. Over-invalidating is safe, so a COMMIT that raised (its
    outcome is unknown) and a savepoint rollback still send.
    """
    if getattr(connection, _HOOKED, False):
        return
    wrapper: Any = connection  # the private methods every backend implements
    commit = wrapper._commit
    rollback = wrapper._rollback
    set_autocommit = wrapper._set_autocommit

    def _commit() -> None:
        try:
            commit()
        finally:
            _end_transaction_isolation(connection)
            _send_pending(connection)

    def _rollback() -> None:
        try:
            rollback()
        finally:
            _end_transaction_isolation(connection)
            _pending_of(connection).clear()

    def _set_autocommit(autocommit: bool) -> None:
        try:
            set_autocommit(autocommit)
        finally:
            if autocommit:  # sqlite3 commits an open transaction when autocommit goes on
                _end_transaction_isolation(connection)
                _send_pending(connection)

    wrapper._commit = _commit
    wrapper._rollback = _rollback
    wrapper._set_autocommit = _set_autocommit
    setattr(connection, _HOOKED, True)


def _send_pending(connection: BaseDatabaseWrapper) -> None:
    pending = _pending_of(connection)
    if pending:
        tables = frozenset(pending)
        pending.clear()
        send_tables_changed(tables, connection.alias)


def in_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether statements on ``connection`` now run inside a transaction not yet committed."""
    if connection.in_atomic_block:
        return True
    if connection.connection is None:  # not open yet: it will start in its configured mode
        return not connection.settings_dict.get("AUTOCOMMIT", True)
    return not connection.autocommit


_RAW_ISOLATION = "_perfkit_raw_isolation"


def raw_isolation_changed(connection: BaseDatabaseWrapper) -> bool:
    """Whether raw SQL set an isolation level Django does not know of on ``connection``.

    ``SET TRANSACTION ISOLATION LEVEL ...`` holds until the transaction ends;
    a session-wide change (``SET SESSION CHARACTERISTICS ...``) for as long as
    the connection object lives.
    """
    noted = getattr(connection, _RAW_ISOLATION, None)
    return noted is not None and noted[1] == id(connection.connection)


def _note_isolation(connection: BaseDatabaseWrapper, scope: str) -> None:
    """Remember the change for this database session (a reconnect forgets it)."""
    session = id(connection.connection)
    if scope == "session":
        setattr(connection, _RAW_ISOLATION, ("session", session))
    elif not raw_isolation_changed(connection) and in_transaction(connection):
        setattr(connection, _RAW_ISOLATION, ("transaction", session))
        _hook_transaction_end(connection)


def _end_transaction_isolation(connection: BaseDatabaseWrapper) -> None:
    noted = getattr(connection, _RAW_ISOLATION, None)
    if noted is not None and noted[0] == "transaction":
        setattr(connection, _RAW_ISOLATION, None)


def note_statement(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Statement listener: send ``tables_changed`` for the tables ``sql`` wrote, once committed."""
    tables = _cache.get(sql)  # the common case, inlined: a read seen before
    if tables is None:
        tables = _classify(sql)
    if not tables:
        return
    if tables is _ISOLATION_TRANSACTION or tables is _ISOLATION_SESSION:
        _note_isolation(connection, "session" if tables is _ISOLATION_SESSION else "transaction")
        return
    if not in_transaction(connection):
        send_tables_changed(tables, connection.alias)
        return
    _hook_transaction_end(connection)
    _pending_of(connection).update(tables)


def written_in_transaction(using: str) -> frozenset[str]:
    """Tables written in the open transaction of ``using`` (empty in autocommit)."""
    connection = connections[using]
    pending: set[str] | None = getattr(connection, _PENDING, None)
    if not pending or not in_transaction(connection):
        return _EMPTY
    return frozenset(pending)


def send_tables_changed(tables: frozenset[str], using: str) -> None:
    """Send :data:`tables_changed`; a failing receiver never breaks the write."""
    for receiver, result in tables_changed.send_robust(
        sender=None, tables=tables, using=using, database=database_of(using)
    ):
        if isinstance(result, Exception):
            errors.report(f"tables_changed receiver {_name(receiver)}", result)


def _name(receiver: Callable[..., Any]) -> str:
    return getattr(receiver, "__qualname__", repr(receiver))
