"""Name the fix of an N+1: which ``select_related``/``prefetch_related`` removes it.

An N+1 is one statement shape run once per row of an earlier query. Its
WHERE clause says which relation it follows: filtering a table on its
primary key is a forward foreign key being read row by row (fix:
``select_related``); filtering on a foreign-key column is a reverse relation
(fix: ``prefetch_related``, or ``annotate(Count(...))`` when only counted);
filtering a many-to-many's through table is that many-to-many. The model
being iterated is the one read by the nearest statement that ran before the
N+1 started; when that statement is itself an N+1, the two relations chain
(``select_related("author__publisher")``). When nothing matches, the hint
says so instead of guessing.
"""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.fields.related import ForeignObjectRel, RelatedField

from perfkit.capture import Capture
from perfkit.sqlnames import canonical, read_tables

_QUOTED = r'[`"\[]?(\w+)[`"\]]?'
_CONDITION = re.compile(
    rf"\bWHERE\s+\(*\s*(?:{_QUOTED}\.)?{_QUOTED}\s*(?:=|\bIN\b)\s*\(?\s*%s", re.IGNORECASE
)
_MORE_CONDITIONS = re.compile(r"%s[^%]*?\b(?:AND|OR)\b", re.IGNORECASE)
_COUNT = re.compile(r"^\s*SELECT\s+COUNT\(", re.IGNORECASE)


@dataclass(frozen=True)
class FixHint:
    """The change that removes one N+1, or why none could be named."""

    method: str | None
    """``select_related``, ``prefetch_related``, ``annotate`` or None (no fix found)."""
    model: str = ""
    """The model whose queryset needs the change (``shop.Book``)."""
    path: str = ""
    """The relation path to pass (``author``, ``books``, ``author__publisher``)."""
    note: str = ""
    """Why this fix, or why none; alternatives when several relations match."""

    @property
    def found(self) -> bool:
        return self.method is not None

    @property
    def code(self) -> str:
        """The call to add, e.g. ``Book.objects.select_related("author")``."""
        if self.method is None:
            return ""
        name = self.model.rpartition(".")[2]
        if self.method == "annotate":
            return f'{name}.objects.annotate(Count("{self.path}"))'
        return f'{name}.objects.{self.method}("{self.path}")'

    def __str__(self) -> str:
        if self.method is None:
            return f"no fix found: {self.note}"
        return f"{self.code}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class _Relation:
    model: type[models.Model]  # the model being iterated
    path: str
    method: str


def fix_hint(
    sql: str, preceding: Sequence[str] = (), repeated: Iterable[str] = (), code_line: str = ""
) -> FixHint:
    """The fix of the N+1 statement ``sql``.

    ``preceding`` are the distinct statements that first ran before ``sql``
    in the same request, oldest first; ``repeated`` those of them that are
    N+1s themselves (their relation is chained in front of this one's).
    ``code_line`` is the line of code at the N+1's call site, if known: when
    several relations could lead to the statement, the one it names
    (``book.author``) is chosen.
    """
    return _safe_hint(sql, tuple(preceding), frozenset(repeated), code_line)


def hint_at_site(sql: str, site: str) -> FixHint:
    """The fix of ``sql`` from its call site alone (``path/to/file.py:12 in view``)."""
    filename, _, rest = site.rpartition(":")
    line = rest.split(" ", 1)[0]
    # Call sites are kept relative to the working directory (dbinsights.short_path).
    path = os.path.join(os.getcwd(), filename)
    code_line = linecache.getline(path, int(line)) if filename and line.isdigit() else ""
    return fix_hint(sql, code_line=code_line)


def hints_for(statements: Sequence[str], repeated: Iterable[str]) -> dict[str, FixHint]:
    """Hints of every statement in ``repeated``, given all statements in first-run order."""
    wanted = frozenset(repeated)
    order = tuple(statements)
    return {
        sql: _safe_hint(sql, order[: order.index(sql)], wanted) for sql in order if sql in wanted
    }


def _safe_hint(
    sql: str, preceding: tuple[str, ...], repeated: frozenset[str], code_line: str = ""
) -> FixHint:
    """A hint is advice: a statement it cannot read never breaks what asked for it."""
    try:
        return _hint(sql, preceding, repeated, code_line)
    except Exception as error:
        return FixHint(None, note=f"could not analyse the statement ({type(error).__name__})")


def _hint(
    sql: str, preceding: tuple[str, ...], repeated: frozenset[str], code_line: str
) -> FixHint:
    relation = _relation(sql, preceding, repeated, code_line, depth=0)
    if isinstance(relation, str):
        return FixHint(None, note=relation)
    method, note = relation.method, ""
    if method == "prefetch_related" and _COUNT.match(sql):
        method = "annotate"
        note = "the rows are only counted: annotate the count instead of one COUNT per row"
    elif _MORE_CONDITIONS.search(sql):
        method = "prefetch_related"
        note = "the related rows are filtered: pass a Prefetch() with that filter"
    return FixHint(method, relation.model._meta.label, relation.path, note)


def _relation(
    sql: str, preceding: tuple[str, ...], repeated: frozenset[str], code_line: str, depth: int
) -> _Relation | str:
    """The relation ``sql`` follows, chained behind an outer N+1; or why there is none."""
    match = _CONDITION.search(sql)
    if match is None:
        return "the statement does not filter on a single column"
    table, column = match.group(1), match.group(2)
    if table is None:
        tables = read_tables(sql)
        if len(tables) != 1:
            return f"cannot tell which table {column!r} belongs to"
        table = next(iter(tables))
    model = _models_by_table().get(canonical(table))
    if model is None:
        return f"no installed model uses the table {canonical(table)!r}"
    field = _field_by_column(model, column)
    if field is None:
        return f"{model._meta.label} has no field on the column {column!r}"
    candidates = _candidates(model, field)
    if not candidates:
        label = f"{model._meta.label}.{field.name}"
        return f"filtering {label} is not a relation another model can follow"
    chosen, source = _choose(candidates, preceding, code_line)
    if chosen is None:
        listed = ", ".join(f"{c.model._meta.label}: {c.method}({c.path!r})" for c in candidates)
        return f"several relations lead here and none was read before the N+1: {listed}"
    if source is not None and source in repeated and depth < 4:
        before = preceding[: preceding.index(source)]
        outer = _relation(source, before, repeated, "", depth + 1)
        if isinstance(outer, _Relation) and _leads_to(outer, chosen.model):
            both_joins = outer.method == chosen.method == "select_related"
            method = "select_related" if both_joins else "prefetch_related"
            return _Relation(outer.model, f"{outer.path}__{chosen.path}", method)
    return chosen


def _leads_to(outer: _Relation, model: type[models.Model]) -> bool:
    """Whether following ``outer`` from its model arrives at ``model``."""
    current = outer.model
    for name in outer.path.split("__"):
        try:
            related = current._meta.get_field(name).related_model
        except FieldDoesNotExist:
            return False
        if not isinstance(related, type):
            return False
        current = related
    return current is not outer.model and issubclass(current, model)


def _choose(
    candidates: list[_Relation], preceding: tuple[str, ...], code_line: str
) -> tuple[_Relation | None, str | None]:
    """The candidate whose model the nearest earlier statement read, and that statement.

    Without such a statement, the one candidate, or the one whose relation the
    call site's line of code names (``.author``).
    """
    for statement in reversed(preceding):
        read = read_tables(statement)
        matching = [c for c in candidates if canonical(c.model._meta.db_table) in read]
        if len(matching) == 1:
            return matching[0], statement
        if matching:
            candidates = matching
            break
    if len(candidates) > 1 and code_line:
        candidates = _named_in(candidates, code_line) or candidates
    if len(candidates) == 1:
        return candidates[0], None
    return None, None


def _named_in(candidates: list[_Relation], code_line: str) -> list[_Relation]:
    """The candidates the line follows: ``.author`` after a name like the model's (``book``)."""
    named = []
    for candidate in candidates:
        owners = re.findall(rf"(\w+)\.{re.escape(candidate.path)}\b", code_line)
        if owners:
            lowered = {owner.lower() for owner in owners}
            named.append((candidate, candidate.model._meta.model_name in lowered))
    if len(named) > 1:
        named = [item for item in named if item[1]]
    return [candidate for candidate, _ in named]


def _candidates(model: type[models.Model], field: models.Field[Any, Any]) -> list[_Relation]:
    """The relations from other models that read ``model`` filtered on ``field``."""
    if not isinstance(field, RelatedField):
        return _forward_candidates(model, field)
    through_of = [
        m2m
        for other in _all_models()
        for m2m in other._meta.local_many_to_many
        if m2m.remote_field.through is model
    ]
    found = []
    for m2m in through_of:
        if field is _through_source(m2m):
            found.append(_Relation(m2m.model, m2m.name, "prefetch_related"))
        else:
            accessor = m2m.remote_field.get_accessor_name()
            target = m2m.related_model
            if accessor and not m2m.remote_field.hidden and isinstance(target, type):
                found.append(_Relation(target, accessor, "prefetch_related"))
    if through_of:
        return found
    if field.primary_key:  # a one-to-one parent link: also a forward target
        return _forward_candidates(model, field)
    rel = field.remote_field
    accessor = rel.get_accessor_name() if isinstance(rel, ForeignObjectRel) else None
    target = field.related_model
    if not accessor or rel.hidden or not isinstance(target, type):
        return []
    method = "select_related" if field.one_to_one else "prefetch_related"
    return [_Relation(target, accessor, method)]


def _forward_candidates(
    model: type[models.Model], field: models.Field[Any, Any]
) -> list[_Relation]:
    """Foreign keys and one-to-ones of other models pointing at ``model``'s ``field``."""
    found = []
    for other in _all_models():
        for fk in other._meta.concrete_fields:
            if not isinstance(fk, RelatedField) or not (fk.many_to_one or fk.one_to_one):
                continue
            target = fk.related_model
            leads_here = isinstance(target, type) and issubclass(model, target)
            if leads_here and fk.target_field.column == field.column:
                found.append(_Relation(other, fk.name, "select_related"))
    return found


def _through_source(m2m: models.ManyToManyField[Any, Any]) -> object:
    """The through model's foreign key to the model declaring ``m2m``."""
    through = m2m.remote_field.through
    if not isinstance(through, type):
        return None
    return through._meta.get_field(m2m.m2m_field_name())


def _field_by_column(model: type[models.Model], column: str) -> models.Field[Any, Any] | None:
    wanted = canonical(column)
    for field in model._meta.concrete_fields:
        if canonical(field.column) == wanted:
            return field
    return None


@lru_cache(maxsize=1)
def _all_models() -> tuple[type[models.Model], ...]:
    return tuple(m for m in apps.get_models(include_auto_created=True) if not m._meta.proxy)


@lru_cache(maxsize=1)
def _models_by_table() -> dict[str, type[models.Model]]:
    return {canonical(m._meta.db_table): m for m in _all_models()}


def capture_hints(capture: Capture) -> dict[str, FixHint]:
    """Hints of every N+1 of ``capture``, keyed by the ``sql`` of its fingerprint's stat."""
    order = tuple(capture.fingerprints)
    stats = capture.fingerprints
    repeated = frozenset(fp for fp, stat in stats.items() if stat.count >= capture.threshold)
    hints = {}
    for index, fp in enumerate(order):
        if fp in repeated:
            site = stats[fp].site
            line = linecache.getline(site.filename, site.lineno) if site else ""
            hints[stats[fp].sql] = _safe_hint(fp, order[:index], repeated, line)
    return hints
