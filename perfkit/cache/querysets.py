# QuerySet's private hooks (_fetch_all, _chain, _clone, _fields...) are not in
# django-stubs; this module overrides exactly those.
# mypy: disable-error-code="attr-defined,misc,no-any-return,return-value"
"""``CachedQuerySet``: ``.cached()`` querysets served while their tables are unchanged.

Every way of evaluating a queryset goes through ``_fetch_all`` (iteration,
``list()``, ``len()``, ``bool()``, slicing, ``get()``, ``first()``/``last()``,
``in_bulk()``, ``values()``/``values_list()``, prefetches) or through
``count()``, ``exists()`` and ``aggregate()``; those are what is cached. The
async methods (``aget``, ``acount``, ``async for``...) run these in a thread,
so they are cached the same way. ``iterator()`` streams and is never cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from perfkit.cache.fetch import fetch
from perfkit.cache.keys import Uncacheable, compile_queryset, prefetch_plan, tables_in_sql

M = TypeVar("M", bound=models.Model)

if TYPE_CHECKING:  # the mixin is only ever mixed into QuerySet subclasses
    _Base = models.QuerySet[Any]
else:
    _Base = object


@dataclass(frozen=True)
class CacheOptions:
    timeout: int | None
    label: str | None


class CachedQuerySetMixin(_Base):
    """Mixin for a QuerySet class: adds ``.cached(timeout=None, label=None)``."""

    _perfkit_cache: CacheOptions | None = None

    def cached(self, timeout: int | None = None, label: str | None = None) -> Any:
        """This queryset, served from the cache while every table it reads is unchanged."""
        clone = self._chain()
        clone._perfkit_cache = CacheOptions(timeout, label)
        return clone

    def uncached(self) -> Any:
        """This queryset without caching."""
        clone = self._chain()
        clone._perfkit_cache = None
        return clone

    def _clone(self) -> Any:
        clone = super()._clone()
        clone._perfkit_cache = self._perfkit_cache
        return clone

    def _cache_plan(self, operation: str, *extra: Any) -> tuple[tuple[Any, ...], set[str], str]:
        """Key parts, tables read and label of this queryset's ``operation``."""
        queryset: models.QuerySet[Any] = self
        sql, params = compile_queryset(queryset)
        tables = set(tables_in_sql(sql))
        lookups = tuple(queryset._prefetch_related_lookups)
        prefetches: tuple[Any, ...] = ()
        if lookups and operation == "rows":
            prefetch_tables, prefetches = prefetch_plan(queryset.model, lookups)
            tables |= prefetch_tables
        parts = (
            operation,
            sql,
            repr(params),
            queryset._iterable_class.__name__,
            queryset._fields,
            prefetches,
            *extra,
        )
        options = self._perfkit_cache
        label = (options.label if options else None) or queryset.model._meta.db_table
        return parts, tables, label

    def _cached(self, operation: str, compute: Any, *extra: Any) -> Any:
        options = self._perfkit_cache
        assert options is not None
        try:
            parts, tables, label = self._cache_plan(operation, *extra)
        except Uncacheable:
            return compute()
        return fetch(
            using=self.db,
            key_parts=parts,
            tables=tables,
            label=label,
            timeout=options.timeout,
            compute=compute,
        )

    def _fetch_all(self) -> None:
        if self._perfkit_cache is None or self._result_cache is not None:
            super()._fetch_all()
            return

        def compute() -> list[Any]:
            super(CachedQuerySetMixin, self)._fetch_all()
            return self._result_cache

        rows = self._cached("rows", compute)
        self._result_cache = rows
        self._prefetch_done = True

    def count(self) -> int:
        if self._perfkit_cache is None or self._result_cache is not None:
            return super().count()
        return self._cached("count", super().count)

    def exists(self) -> bool:
        if self._perfkit_cache is None or self._result_cache is not None:
            return super().exists()
        return self._cached("exists", super().exists)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        parent = super()
        if self._perfkit_cache is None:
            return parent.aggregate(*args, **kwargs)
        return self._cached(
            "aggregate",
            lambda: parent.aggregate(*args, **kwargs),
            repr(args),
            repr(sorted(kwargs.items())),
        )


class CachedQuerySet(CachedQuerySetMixin, models.QuerySet[M]):
    """A QuerySet with ``.cached()``; use ``CachedQuerySet.as_manager()``."""


class CachedManager(models.Manager.from_queryset(CachedQuerySet)):
    """A manager whose querysets have ``.cached()``."""
