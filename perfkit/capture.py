"""What one request, task or command did with SQL: counts, duplicates, N+1s."""

from __future__ import annotations

import re
import site
import sys
import sysconfig
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

import django
from django.template.base import Node

import perfkit

_IN_LIST = re.compile(r"\bIN \((?:%s, )+%s\)", re.IGNORECASE)
_fingerprints: dict[str, str] = {}
_FINGERPRINT_CACHE = 4096


def fingerprint(sql: str) -> str:
    """The statement with what varies between N+1 iterations normalized.

    Django sends SQL with ``%s`` placeholders, so the text is already the
    fingerprint except for ``IN (%s, %s, ...)`` lists of different lengths.
    """
    cached = _fingerprints.get(sql)
    if cached is not None:
        return cached
    result = _IN_LIST.sub("IN (%s, ...)", sql) if " IN (" in sql.upper() else sql
    if len(_fingerprints) >= _FINGERPRINT_CACHE:
        _fingerprints.clear()
    _fingerprints[sql] = result
    return result


@dataclass(frozen=True)
class CallSite:
    """Where in the user's code a statement was issued."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"


def _library_roots() -> tuple[str, ...]:
    roots = {
        str(Path(django.__file__).parent),
        str(Path(perfkit.__file__).parent),
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
    }
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        roots.add(user_site)
    return tuple(sorted(roots))


_ROOTS = _library_roots()


@lru_cache(maxsize=2048)
def is_library_file(filename: str) -> bool:
    """Whether ``filename`` belongs to Django, perfkit, the stdlib or site-packages."""
    if filename.startswith("<"):
        return True
    return filename.startswith(_ROOTS) or "site-packages" in filename


TEMPLATE_FUNCTION = "<template>"
"""The ``function`` of a call site inside a Django template."""

_RENDER_ANNOTATED = Node.render_annotated.__code__


def call_site(skip: int = 2) -> CallSite | None:
    """Where the caller's statement comes from in the user's own code.

    The innermost frame that is the user's Python, or, when a Django template
    node is rendering further in, that node's template file and line: the
    ``{{ book.author.name }}`` inside a ``{% for %}`` that issues the N+1,
    also when a ``TemplateResponse`` renders after the view has returned.
    """
    frame: FrameType | None = sys._getframe(skip)
    while frame is not None:
        code = frame.f_code
        if code is _RENDER_ANNOTATED:
            site = _template_site(frame)
            if site is not None:
                return site
        elif not is_library_file(code.co_filename):
            return CallSite(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


def _template_site(frame: FrameType) -> CallSite | None:
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    name = getattr(origin, "name", None)
    lineno = getattr(token, "lineno", None)
    if not isinstance(name, str) or not isinstance(lineno, int):
        return None
    return CallSite(name, lineno, TEMPLATE_FUNCTION)


@dataclass(slots=True)
class FingerprintStat:
    """How often one fingerprint ran in one capture."""

    sql: str
    count: int = 0
    duplicates: int = 0
    time: float = 0.0
    site: CallSite | None = None
    params: Any = None


@dataclass(slots=True)
class Capture:
    """Observer of one unit of work (request, task, command).

    Counts and timings are always kept; with ``detailed`` it also tracks
    fingerprints for duplicates and N+1s, taking a call site only when a
    fingerprint reaches ``threshold`` or first runs twice with the same
    parameters (so the common path stays cheap).

    :meth:`query` runs between two database round trips, when the caches of
    the CPU hold PostgreSQL's work, not this process's: its cost is the
    memory it touches more than the bytecode it runs. So a statement whose
    exact SQL string ran before in this capture (the ORM builds identical
    strings for one query shape) costs one dict lookup of that string and
    one set lookup of its parameters; normalizing it into a fingerprint
    happens once per string, on its first run.
    """

    detailed: bool = True
    threshold: int = 5
    keep_params: bool = False
    queries: int = 0
    failed: int = 0
    db_time: float = 0.0
    duplicates: int = 0
    by_alias: dict[str, list[float]] = field(default_factory=dict)
    fingerprints: dict[str, FingerprintStat] = field(default_factory=dict)
    # Per exact SQL string: its fingerprint's stat and the parameters it ran with.
    _statements: dict[str, tuple[FingerprintStat, set[Hashable]]] = field(default_factory=dict)

    def query(
        self, alias: str, sql: str, params: Any, many: bool, duration: float, failed: bool
    ) -> None:
        self.queries += 1
        self.db_time += duration
        if failed:
            self.failed += 1
        per_alias = self.by_alias.get(alias)
        if per_alias is None:
            self.by_alias[alias] = [1, duration]
        else:
            per_alias[0] += 1
            per_alias[1] += duration
        if not self.detailed:
            return
        seen = self._statements.get(sql)
        if seen is None:
            self._first_run(sql, params, duration)
            return
        stat, params_seen = seen
        stat.count += 1
        stat.time += duration
        if stat.count == self.threshold:
            stat.site = call_site(skip=3)
        try:
            duplicate = params in params_seen
        except TypeError:  # unhashable (a list, a dict): compared by repr
            params = repr(params)
            duplicate = params in params_seen
        if duplicate:
            self.duplicates += 1
            stat.duplicates += 1
            if stat.site is None:
                stat.site = call_site(skip=3)
        else:
            params_seen.add(params)

    def _first_run(self, sql: str, params: Any, duration: float) -> None:
        """The first run of ``sql`` in this capture: never a duplicate."""
        fp = fingerprint(sql)
        stat = self.fingerprints.get(fp)
        if stat is None:
            stat = self.fingerprints[fp] = FingerprintStat(sql)
        self._statements[sql] = (stat, {_params_key(params)})
        stat.count += 1
        stat.time += duration
        if stat.count == self.threshold:  # IN lists of other lengths ran before
            stat.site = call_site(skip=4)
        if self.keep_params and stat.params is None:
            stat.params = repr(params)

    @property
    def n_plus_one(self) -> list[FingerprintStat]:
        """Fingerprints repeated at least ``threshold`` times, most repeated first."""
        found = [s for s in self.fingerprints.values() if s.count >= self.threshold]
        return sorted(found, key=lambda s: -s.count)

    @property
    def repeated(self) -> list[FingerprintStat]:
        """N+1 fingerprints and fingerprints with duplicate statements."""
        found = [s for s in self.fingerprints.values() if s.count >= self.threshold or s.duplicates]
        return sorted(found, key=lambda s: (-s.count, -s.duplicates))


def _params_key(params: Any) -> Hashable:
    """``params`` itself when hashable (tuples of scalars: the common case), else its repr."""
    try:
        hash(params)
    except TypeError:
        return repr(params)
    return params  # type: ignore[no-any-return]
