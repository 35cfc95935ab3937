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

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query import ModelIterable

from perfkit import observe
from perfkit.cache.fetch import fetch
from perfkit.cache.keys import (
    Uncacheable,
    identity,
    prefetch_plan,
    queryset_signature,
    tables_in_sql,
)

M = TypeVar("M", bound=models.Model)

if TYPE_CHECKING:  # the mixin is only ever mixed into QuerySet subclasses
    _Base = models.QuerySet[Any]
else:
    _Base = object


NOT_INSTALLED = (
    '.cached() needs "perfkit.cache" in INSTALLED_APPS: without it writes are not '
    "tracked and cached reads would be served stale."
)


@dataclass(frozen=True)
class CacheOptions:
    timeout: int | None
    label: str | None


class CachedQuerySetMixin(_Base):
    """Mixin for a QuerySet class: adds ``.cached(timeout=None, label=None)``."""

    _perfkit_cache: CacheOptions | None = None

    def cached(self, timeout: int | None = None, label: str | None = None) -> Any:
        """This queryset, served from the cache while every table it reads is unchanged."""
        if not observe.has_statement_listener("perfkit.writes"):  # perfkit.cache's ready()
            raise ImproperlyConfigured(NOT_INSTALLED)
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

    def _cache_plan(
        self, operation: str, *extra: Any
    ) -> tuple[tuple[Any, ...], tuple[Any, ...], set[str], str]:
        """Key parts, shape (parts without parameters), expected tables and label."""
        queryset: models.QuerySet[Any] = self
        signature = queryset_signature(queryset)
        tables = set(tables_in_sql(signature[0]))
        lookups = tuple(queryset._prefetch_related_lookups)
        prefetches: tuple[Any, ...] = ()
        if lookups and operation == "rows":
            prefetch_tables, prefetches = prefetch_plan(queryset.model, lookups)
            tables |= prefetch_tables
        parts = (operation, signature, prefetches, *extra)
        shape = (operation, signature[:1] + signature[2:], prefetches, *extra)
        options = self._perfkit_cache
        label = (options.label if options else None) or queryset.model._meta.db_table
        return parts, shape, tables, label

    def _cached(self, operation: str, compute: Any, *extra: Any, restore: Any = None) -> Any:
        options = self._perfkit_cache
        assert options is not None
        try:
            parts, shape, tables, label = self._cache_plan(operation, *extra)
        except Uncacheable:
            return compute()
        return fetch(
            using=self.db,
            key_parts=parts,
            tables=tables,
            label=label,
            timeout=options.timeout,
            compute=compute,
            restore=restore,
            shape=shape,
        )

    def _reattach_known_objects(self, rows: list[Any]) -> list[Any]:
        """Point rows at the caller's own related instances, as the ORM does.

        A related manager (``author.books``) knows its parent; a stored entry
        holds a copy of the parent as it was when stored, so the current
        instance is put back (never over objects loaded by ``select_related``).
        """
        if not self._known_related_objects or self._iterable_class is not ModelIterable:
            return rows
        selected = self.query.select_related
        for field, objects in self._known_related_objects.items():
            if selected is True or (isinstance(selected, dict) and field.name in selected):
                continue
            names = [
                field.attname if name == "self" else self.model._meta.get_field(name).attname
                for name in field.from_fields
            ]
            value_of = operator.attrgetter(*names)
            for row in rows:
                related = objects.get(value_of(row))
                if related is not None:
                    setattr(row, field.name, related)
        return rows

    def _fetch_all(self) -> None:
        if self._perfkit_cache is None or self._result_cache is not None:
            super()._fetch_all()
            return

        def compute() -> list[Any]:
            super(CachedQuerySetMixin, self)._fetch_all()
            return self._result_cache

        rows = self._cached("rows", compute, restore=self._reattach_known_objects)
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
            identity(args),
            identity(kwargs),
        )


class CachedQuerySet(CachedQuerySetMixin, models.QuerySet[M]):
    """A QuerySet with ``.cached()``; use ``CachedQuerySet.as_manager()``."""


class CachedManager(models.Manager.from_queryset(CachedQuerySet)):
    """A manager whose querysets have ``.cached()``."""


@checks.register("perfkit")
def check_cache_app_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """perfkit_cache.E002: models use cached querysets while perfkit.cache is not installed.

    Registered when this module is imported (by a models module using it), so
    it runs exactly in the projects that could call ``.cached()``.
    """
    if apps.is_installed("perfkit.cache"):
        return []
    users = sorted(
        model._meta.label
        for model in apps.get_models()
        if any(
            isinstance(manager, models.Manager)
            and issubclass(getattr(manager, "_queryset_class", object), CachedQuerySetMixin)
            for manager in model._meta.managers
        )
    )
    if not users:
        return []
    return [
        checks.Error(
            f'{", ".join(users)} use perfkit\'s cached querysets, but "perfkit.cache" is not '
            "in INSTALLED_APPS: writes would not be tracked and cached reads would be stale.",
            hint='Add "perfkit.cache" to INSTALLED_APPS.',
            id="perfkit_cache.E002",
        )
    ]
