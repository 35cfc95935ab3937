"""One permanent SQL-observing wrapper per database connection.

Core puts :func:`observe_statement` at the *front* of every connection's
``execute_wrappers``, once per connection object: from ``connection_created``
and, at ``ready()``, on connections already open. (``execute_wrapper()``
blocks pop the *last* wrapper on exit; a wrapper appended while such a block
is active would be the one popped.) It works with ``DEBUG=False``.

Who wants to see queries pushes an observer into a ``ContextVar``; asgiref
carries the context into the threads ``sync_to_async`` runs the ORM in, so
every alias and thread of a request is covered. With no observer active and no
statement listener, the wrapper only calls through.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any, Protocol

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from perfkit.recording import errors


class QueryObserver(Protocol):
    """Receives every statement executed while it is active."""

    def query(
        self, alias: str, sql: str, params: Any, many: bool, duration: float, failed: bool
    ) -> None: ...


StatementListener = Callable[[BaseDatabaseWrapper, str], None]

_observers: contextvars.ContextVar[tuple[QueryObserver, ...]] = contextvars.ContextVar(
    "perfkit_observers", default=()
)
_listeners: dict[str, StatementListener] = {}
# What the hot path iterates, in a one-slot list: rebuilt on every (rare) add or remove.
_active_listeners: list[tuple[tuple[str, StatementListener], ...]] = [()]
_MARK = "_perfkit_observed"


def observe_statement(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper itself.

    It runs between two database round trips, with the CPU's caches cold:
    what costs is every object and every frame it touches, so the observers
    and listeners are called from here, with no helper frames in between.
    """
    observers = _observers.get()
    listeners = _active_listeners[0]
    if not observers:
        result = execute(sql, params, many, context)
        if listeners:
            _notify(listeners, context["connection"], sql)
        return result
    if observers is _QUIET:  # perfkit's own bookkeeping
        return execute(sql, params, many, context)
    start = perf_counter()
    try:
        result = execute(sql, params, many, context)
    except BaseException:
        duration = perf_counter() - start
        alias = context["connection"].alias
        for observer in observers:
            try:
                observer.query(alias, sql, params, many, duration, True)
            except Exception as exc:
                errors.report("query observer", exc)
        raise
    duration = perf_counter() - start
    connection = context["connection"]
    alias = connection.alias
    for observer in observers:
        try:
            observer.query(alias, sql, params, many, duration, False)
        except Exception as exc:
            errors.report("query observer", exc)
    for name, listener in listeners:
        try:
            listener(connection, sql)
        except Exception as exc:
            errors.report(f"statement listener {name}", exc)
    return result


def _notify(
    listeners: tuple[tuple[str, StatementListener], ...],
    connection: BaseDatabaseWrapper,
    sql: str,
) -> None:
    for name, listener in listeners:
        try:
            listener(connection, sql)
        except Exception as exc:
            errors.report(f"statement listener {name}", exc)


def install(connection: BaseDatabaseWrapper) -> None:
    """Put the wrapper at the front of ``connection``'s wrappers, once."""
    if getattr(connection, _MARK, False):
        return
    connection.execute_wrappers.insert(0, observe_statement)
    setattr(connection, _MARK, True)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver."""
    install(connection)


def install_on_open_connections() -> None:
    """Cover the connection objects this thread already has."""
    for connection in connections.all(initialized_only=True):
        install(connection)


class _Silent:
    def query(
        self, alias: str, sql: str, params: Any, many: bool, duration: float, failed: bool
    ) -> None:
        pass


# While set, statements are neither observed nor passed to listeners (a tuple
# of its own: the empty default tuple is a singleton).
_QUIET: tuple[QueryObserver, ...] = (_Silent(),)


@contextmanager
def quiet() -> Iterator[None]:
    """Run perfkit's own statements unseen: not counted as traffic, never invalidating.

    perfkit never observes itself: a flush that wrote its rollup table and
    counted that write as a cache invalidation would refill its own buffer
    forever.
    """
    token = _observers.set(_QUIET)
    try:
        yield
    finally:
        _observers.reset(token)


def push(observer: QueryObserver) -> contextvars.Token[tuple[QueryObserver, ...]]:
    """Start sending queries of this context to ``observer``."""
    return _observers.set((*_observers.get(), observer))


def remove(observer: QueryObserver) -> None:
    """Stop sending queries to ``observer`` (safe in any context)."""
    current = _observers.get()
    if observer in current:
        _observers.set(tuple(o for o in current if o is not observer))


@contextmanager
def observing(observer: QueryObserver) -> Iterator[QueryObserver]:
    """Observe the queries run inside the block."""
    token = push(observer)
    try:
        yield observer
    finally:
        try:
            _observers.reset(token)
        except ValueError:  # reset from another context: fall back to removal
            remove(observer)


def add_statement_listener(name: str, listener: StatementListener) -> None:
    """Call ``listener(connection, sql)`` after every successful statement."""
    _listeners[name] = listener
    _active_listeners[0] = tuple(_listeners.items())


def has_statement_listener(name: str) -> bool:
    """Whether a listener called ``name`` is installed."""
    return name in _listeners


def remove_statement_listener(name: str) -> None:
    _listeners.pop(name, None)
    _active_listeners[0] = tuple(_listeners.items())
