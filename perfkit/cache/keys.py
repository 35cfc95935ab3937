"""Cache keys and read tables of querysets.

A key is a hash of the database, the compiled SQL with its parameters and
everything that changes the shape of the result (iterable class, fields,
prefetch lookups, the operation). Compiling the SQL is the key's whole cost.
The tables a query reads are taken from that SQL (every ``FROM``/``JOIN``,
subqueries included) and, for prefetches, from the relations walked.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.db import models
from django.db.models import Prefetch
from django.db.models.constants import LOOKUP_SEP

from perfkit.cache.versions import PREFIX

_NAME = r'(?:"[^"]+"|`[^`]+`|[A-Za-z_][\w$]*)'
_KEYWORDS = (
    r"(?:INNER|LEFT|RIGHT|FULL|CROSS|NATURAL|JOIN|ON|USING|WHERE|GROUP|ORDER|HAVING|LIMIT"
    r"|OFFSET|UNION|INTERSECT|EXCEPT|WINDOW|FOR|RETURNING)\b"
)
_ITEM = rf"{_NAME}(?:\s+(?:AS\s+)?(?!{_KEYWORDS}){_NAME})?"
# FROM a, b AS x / JOIN c: every item of a FROM list, not only the first.
_TABLES = re.compile(rf"\b(?:FROM|JOIN)\s+({_ITEM}(?:\s*,\s*{_ITEM})*)", re.IGNORECASE)
_FIRST = re.compile(rf"(?:^|,)\s*({_NAME})")
# extra(tables=[...]) appends ', "table"' after the joins.
_EXTRA = re.compile(r',\s*("[^"]+"|`[^`]+`)(?!\s*\.)')
# Results that depend on more than the tables' contents.
_VOLATILE = re.compile(
    r"\bRANDOM\s*\(|\bRAND\s*\(|\bNOW\s*\(|CURRENT_(?:TIMESTAMP|DATE|TIME)\b|"
    r"\bCLOCK_TIMESTAMP\b|\bSTATEMENT_TIMESTAMP\b|\bTRANSACTION_TIMESTAMP\b|\bLOCALTIMESTAMP\b|"
    r"\bpg_sleep\b|\bnextval\s*\(|\bgen_random_uuid\b|'now'",
    re.IGNORECASE,
)
_tables_cache: dict[str, frozenset[str]] = {}


class Uncacheable(Exception):
    """This query must always run on the database."""


def tables_in_sql(sql: str) -> frozenset[str]:
    """Tables named after FROM or JOIN anywhere in ``sql``."""
    found = _tables_cache.get(sql)
    if found is None:
        names = {n for m in _TABLES.finditer(sql) for n in _FIRST.findall(m.group(1))}
        names.update(_EXTRA.findall(sql))
        found = frozenset(n.strip('"`') for n in names)
        if len(_tables_cache) > 4096:
            _tables_cache.clear()
        _tables_cache[sql] = found
    return found


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


def prefetch_plan(
    model: type[models.Model], lookups: tuple[Any, ...]
) -> tuple[set[str], tuple[Any, ...]]:
    """Tables read by the prefetch queries of ``lookups``, and a stable signature of them.

    A ``Prefetch`` object's repr holds its memory address, so the signature
    uses its path, ``to_attr`` and its queryset's SQL and parameters instead.
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
            except Exception as exc:  # a GenericForeignKey or a to_attr alias
                raise Uncacheable(f"prefetch {path!r}") from exc
            through = getattr(getattr(field, "remote_field", None), "through", None) or getattr(
                field, "through", None
            )
            if field.many_to_many and through is not None:
                tables.add(through._meta.db_table)
            current = field.related_model
            if current is not None:
                tables.add(current._meta.db_table)
        if not isinstance(lookup, Prefetch):
            signature.append(path)
            continue
        query: tuple[Any, ...] = ()
        if lookup.queryset is not None:
            sql, params = compile_queryset(lookup.queryset)
            tables |= tables_in_sql(sql)
            # Django runs the Prefetch queryset's own prefetch_related() too.
            nested_tables, nested = prefetch_plan(
                lookup.queryset.model, tuple(lookup.queryset._prefetch_related_lookups)
            )
            tables |= nested_tables
            query = (sql, repr(params), lookup.queryset._iterable_class.__name__, nested)
        signature.append(("Prefetch", path, lookup.to_attr, query))
    return tables, tuple(signature)


def entry_key(database: str, *parts: Any) -> str:
    """A hashed, namespaced key of an entry."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=20).hexdigest()
    return f"{PREFIX}:q:{database}:{digest}"
