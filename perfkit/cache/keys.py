"""Cache keys and read tables of querysets.

A key is a hash of the physical database, the compiled SQL with its
parameters and everything that changes the result or its Python form: the
model class, iterable class, fields, the identities of annotations and
aggregates (their output fields and defaults), prefetch lookups, the
operation. The tables a query is expected to read are taken from that SQL
(every ``FROM``/``JOIN``, subqueries included) and, for prefetches, from the
relations walked; :mod:`perfkit.cache.fetch` checks them against the
statements that actually ran.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.db import models
from django.db.models import Field, Prefetch, Q
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import BaseExpression, Combinable
from django.db.models.sql import Query

from perfkit import sqlnames
from perfkit.cache.versions import PREFIX

# Results that depend on more than the tables' contents.
_VOLATILE = re.compile(
    r"\bRANDOM\s*\(|\bRAND\s*\(|\bNOW\s*\(|CURRENT_(?:TIMESTAMP|DATE|TIME)\b|"
    r"\bCLOCK_TIMESTAMP\b|\bSTATEMENT_TIMESTAMP\b|\bTRANSACTION_TIMESTAMP\b|\bLOCALTIMESTAMP\b|"
    r"\bpg_sleep\b|\bnextval\s*\(|\bgen_random_uuid\b|'now'",
    re.IGNORECASE,
)


class Uncacheable(Exception):
    """This query must always run on the database."""


def tables_in_sql(sql: str) -> frozenset[str]:
    """Tables named after FROM or JOIN anywhere in ``sql``, in canonical form."""
    return sqlnames.read_tables(sql)


def compile_queryset(queryset: models.QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters ``queryset`` would run; raises Uncacheable."""
    query = queryset.query
    if query.select_for_update:
        raise Uncacheable("select_for_update")
    try:
        sql, params = query.get_compiler(using=queryset.db).as_sql()
    except Exception as exc:  # EmptyResultSet, FullResultSet...: let Django handle it
        raise Uncacheable(type(exc).__name__) from exc
    if is_volatile(sql):
        raise Uncacheable("volatile function")
    return sql, tuple(params)


_volatile_cache: dict[str, bool] = {}


def is_volatile(sql: str) -> bool:
    """Whether ``sql`` calls a function whose result changes by itself; cached per SQL."""
    found = _volatile_cache.get(sql)
    if found is None:
        found = bool(_VOLATILE.search(sql))
        if len(_volatile_cache) > 4096:
            _volatile_cache.clear()
        _volatile_cache[sql] = found
    return found


def identity(value: Any) -> Any:
    """A stable, hashable description of an expression and everything that shapes its value.

    ``repr()`` of an expression leaves out ``output_field`` (which picks the
    converters), an aggregate's ``default`` and more; this walks the
    arguments each expression was built with, recursively.
    """
    if isinstance(value, Field):
        model = getattr(value, "model", None)
        if model is not None and getattr(value, "name", None):
            return ("field", model._meta.label, value.name)
        return ("field", *value.deconstruct()[1:])
    if isinstance(value, Q):
        return ("Q", value.connector, value.negated, tuple(identity(c) for c in value.children))
    arguments = getattr(value, "_constructor_args", None)
    if arguments is not None and isinstance(value, (BaseExpression, Combinable)):
        args, kwargs = arguments
        return (
            type(value).__module__,
            type(value).__qualname__,
            tuple(identity(a) for a in args),
            tuple(sorted((k, identity(v)) for k, v in kwargs.items())),
        )
    if isinstance(value, BaseExpression):  # copied without its constructor arguments
        try:
            output = value._output_field_or_none  # type: ignore[attr-defined]
        except Exception:  # FieldError: mixed types, decided by the database
            output = None
        return (
            type(value).__module__,
            type(value).__qualname__,
            None if output is None else identity(output),
            tuple(identity(source) for source in value.get_source_expressions()),
        )
    if isinstance(value, Query):  # a subquery: its SQL is part of the outer statement's
        return ("Query", value.model._meta.label if value.model is not None else None)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(identity(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(k), identity(v)) for k, v in value.items())))
    if isinstance(value, models.QuerySet):
        return ("QuerySet", queryset_signature(value))
    return (type(value).__qualname__, repr(value))


def queryset_signature(queryset: models.QuerySet[Any]) -> tuple[Any, ...]:
    """Everything that makes ``queryset``'s rows what they are, besides the data.

    The compiled SQL and parameters, the model class (a proxy returns other
    instances than its concrete model), the iterable class and fields, and the
    annotations' identities (their converters). Raises Uncacheable.
    """
    sql, params = compile_queryset(queryset)
    query = queryset.query
    annotations: tuple[Any, ...] = ()
    if query.annotations:
        annotations = tuple((name, identity(e)) for name, e in query.annotations.items())
    iterable = queryset._iterable_class
    return (
        sql,
        repr(params),
        queryset.model._meta.label,
        f"{iterable.__module__}.{iterable.__qualname__}",
        queryset._fields,  # type: ignore[attr-defined]
        annotations,
    )


def prefetch_plan(
    model: type[models.Model], lookups: tuple[Any, ...]
) -> tuple[set[str], tuple[Any, ...]]:
    """Tables the prefetch queries of ``lookups`` are expected to read, and their signature.

    The tables are a prediction (taken before the query runs); the statements
    actually run decide (see :mod:`perfkit.cache.fetch`). A ``Prefetch``
    object's repr holds its memory address, so the signature uses its path,
    ``to_attr`` and its queryset's signature instead.
    """
    tables: set[str] = set()
    signature: list[Any] = []
    for lookup in lookups:
        path = lookup.prefetch_through if isinstance(lookup, Prefetch) else str(lookup)
        current: type[models.Model] | None = model
        for part in path.split(LOOKUP_SEP):
            if current is None:
                break
            try:
                field: Any = current._meta.get_field(part)
            except Exception:  # a to_attr alias: the statements run will tell
                break
            through = getattr(getattr(field, "remote_field", None), "through", None) or getattr(
                field, "through", None
            )
            if field.many_to_many and through is not None and not isinstance(through, str):
                tables.add(sqlnames.canonical(through._meta.db_table))
            current = getattr(field, "related_model", None)
            if isinstance(current, str):
                current = None
            if current is not None:
                tables.add(sqlnames.canonical(current._meta.db_table))
        if not isinstance(lookup, Prefetch):
            signature.append(path)
            continue
        query: tuple[Any, ...] = ()
        if lookup.queryset is not None:
            sql, _ = compile_queryset(lookup.queryset)
            tables |= tables_in_sql(sql)
            # Django runs the Prefetch queryset's own prefetch_related() too.
            nested_tables, nested = prefetch_plan(
                lookup.queryset.model,
                tuple(lookup.queryset._prefetch_related_lookups),
            )
            tables |= nested_tables
            query = (queryset_signature(lookup.queryset), nested)
        signature.append(("Prefetch", path, lookup.to_attr, query))
    return tables, tuple(signature)


def entry_key(database: str, *parts: Any) -> str:
    """A hashed, namespaced key of an entry."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=20).hexdigest()
    return f"{PREFIX}:q:{database}:{digest}"
