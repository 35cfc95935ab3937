"""Write detection at the SQL: every write passes through the execute wrapper.

Model signals miss ``QuerySet.update()``, ``bulk_create()``, fast deletes, raw
SQL and m2m through-table writes. The statement listener here notes the tables
each ``INSERT``/``UPDATE``/``DELETE``/``TRUNCATE``/DDL statement writes and
sends :data:`perfkit.signals.tables_changed` when the write is committed, via
Django's ``on_commit`` (which runs at once in autocommit, after the outermost
commit in ``atomic()``, and drops callbacks of rolled-back savepoints).
psycopg's ``cursor.copy()`` bypasses execute wrappers: COPY is not seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.signals import tables_changed

_WRITE_VERBS = (
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REPLACE",
    "ALTER",
    "DROP",
    "CREATE",
    "WITH",
)
_NAME = r'(?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|`[^`]+`|[\w$]+))?'
_TARGETS = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM"
    r"|TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?"
    r"|DROP\s+TABLE(?:\s+IF\s+EXISTS)?|CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?)"
    rf"\s+({_NAME}(?:\s*,\s*{_NAME})*)",
    re.IGNORECASE,
)
_CASCADE = re.compile(r"^\s*TRUNCATE\b.*\bCASCADE\b", re.IGNORECASE | re.DOTALL)
_cache: dict[str, frozenset[str]] = {}
_CACHE_SIZE = 4096
_EMPTY: frozenset[str] = frozenset()


def _unquote(name: str) -> str:
    return name.rsplit(".", 1)[-1].strip('"`')


def written_tables(sql: str) -> frozenset[str]:
    """Tables a statement writes (empty for reads); cached per SQL string."""
    found = _cache.get(sql)
    if found is not None:
        return found
    head = sql.lstrip()[:8].upper()
    if not head.startswith(_WRITE_VERBS):
        found = _EMPTY
    else:
        names: set[str] = set()
        for match in _TARGETS.finditer(sql):
            names.update(_unquote(n.strip()) for n in match.group(1).split(","))
        found = frozenset(names)
        if found and _CASCADE.match(sql):
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
            if model._meta.db_table in found:
                continue
            for field in model._meta.concrete_fields:
                target = field.related_model
                if (
                    target is not None
                    and not isinstance(target, str)
                    and target._meta.db_table in found
                ):
                    found.add(model._meta.db_table)
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


class _Commit:
    """The on_commit callback announcing one table written through one alias."""

    __slots__ = ("table", "using")

    def __init__(self, table: str, using: str) -> None:
        self.table = table
        self.using = using

    def __call__(self) -> None:
        send_tables_changed(frozenset({self.table}), self.using)


# (id(connection), table) -> the callback registered for the open transaction
_pending: dict[tuple[int, str], _Commit] = {}


def _alive(connection: BaseDatabaseWrapper, callback: _Commit) -> bool:
    """Whether ``callback`` will still run at the outermost commit.

    Django drops the callbacks of a rolled-back savepoint from
    ``run_on_commit`` and empties it when the transaction ends, so being in
    it is exactly "written by this transaction and not rolled back".
    """
    return any(entry[1] is callback for entry in connection.run_on_commit)


def note_statement(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Statement listener: schedule ``tables_changed`` for the tables ``sql`` wrote."""
    tables = _cache.get(sql)  # the common case, inlined: a read seen before
    if tables is None:
        tables = written_tables(sql)
    if not tables:
        return
    alias = connection.alias
    if not connection.in_atomic_block:
        send_tables_changed(tables, alias)
        return
    for table in tables:
        key = (id(connection), table)
        callback = _pending.get(key)
        if callback is not None and _alive(connection, callback):
            continue
        callback = _pending[key] = _Commit(table, alias)
        transaction.on_commit(callback, using=alias, robust=True)


def written_in_transaction(using: str) -> frozenset[str]:
    """Tables written in the open transaction of ``using`` (empty in autocommit)."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return _EMPTY
    ident = id(connection)
    return frozenset(
        table
        for (conn_id, table), callback in list(_pending.items())
        if conn_id == ident and _alive(connection, callback)
    )


def send_tables_changed(tables: frozenset[str], using: str) -> None:
    """Send :data:`tables_changed`; a failing receiver never breaks the write."""
    for receiver, result in tables_changed.send_robust(
        sender=None, tables=tables, using=using, database=database_of(using)
    ):
        if isinstance(result, Exception):
            errors.report(f"tables_changed receiver {_name(receiver)}", result)


def _name(receiver: Callable[..., Any]) -> str:
    return getattr(receiver, "__qualname__", repr(receiver))
