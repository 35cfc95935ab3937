"""``cached_function``: cache any computed value with table-version invalidation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, models

from perfkit import observe, sqlnames
from perfkit.cache.fetch import fetch

NOT_INSTALLED = (
    'cached_function needs "perfkit.cache" in INSTALLED_APPS: without it writes are not '
    "tracked and cached results would be served stale."
)

P = ParamSpec("P")
R = TypeVar("R")


def table_names(models_or_tables: Iterable[type[models.Model] | str]) -> set[str]:
    """Canonical table names of models (and their m2m through tables) or plain table names."""
    tables: set[str] = set()
    for item in models_or_tables:
        if isinstance(item, str):
            tables.add(sqlnames.canonical(item))
            continue
        tables.add(sqlnames.canonical(item._meta.db_table))
        for field in item._meta.local_many_to_many:
            through: Any = field.remote_field.through
            tables.add(sqlnames.canonical(through._meta.db_table))
    return tables


def cached_function(
    depends_on: Iterable[type[models.Model] | str],
    timeout: int | None = None,
    label: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache ``func``'s result per arguments until a table in ``depends_on`` is written.

    Arguments are part of the key through their ``repr()``, so use arguments
    whose repr identifies them (ids, strings, numbers).
    """
    tables = table_names(depends_on)
    if not tables:
        raise ValueError("cached_function needs at least one model or table in depends_on")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not observe.has_statement_listener("perfkit.writes"):  # perfkit.cache's ready()
                raise ImproperlyConfigured(NOT_INSTALLED)
            parts: tuple[Any, ...] = ("function", name, repr(args), repr(sorted(kwargs.items())))
            return fetch(
                using=using,
                key_parts=parts,
                tables=tables,
                label=label or name,
                timeout=timeout,
                compute=lambda: func(*args, **kwargs),
                shape=("function", name),
            )

        return wrapper

    return decorate
