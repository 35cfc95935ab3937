"""What one request, task or command did with SQL: counts, duplicates, N+1s."""

from __future__ import annotations

import re
import site
import sys
import sysconfig
import time
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


# One SQL string's runs: [count, seconds, alias, its fingerprint's stat, the
# parameters it ran with]; count and seconds of the alias of its first run.
_Entry = list[Any]


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
    strings for one query shape) costs one dict lookup of that string and a
    set lookup of its parameters, and updates only that string's entry and
    its fingerprint's count: normalizing it into a fingerprint happens once
    per string, on its first run, and the totals (``queries``, ``db_time``,
    ``by_alias``, ``duplicates``) are summed from the entries when read.
    """

    detailed: bool = True
    threshold: int = 5
    keep_params: bool = False
    failed: int = 0
    fingerprints: dict[str, FingerprintStat] = field(default_factory=dict)
    # Per exact SQL string (detailed only): see _Entry.
    _statements: dict[str, _Entry] = field(default_factory=dict)
    # [count, seconds] per alias of the statements no entry counts: every
    # statement without detail, and runs of a string on another alias than its first.
    _others: dict[str, list[float]] = field(default_factory=dict)
    # The first ``timeline_limit`` statements as (start, seconds, SQL, alias), start
    # on the perf_counter clock like ``started``: a slow sample's query waterfall.
    timeline_limit: int = 0
    timeline: list[tuple[float, float, str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def query(
        self, alias: str, sql: str, params: Any, many: bool, duration: float, failed: bool
    ) -> None:
        if self.timeline_limit > len(self.timeline):
            self.timeline.append((time.perf_counter() - duration, duration, sql, alias))
        entry = self._statements.get(sql)
        if entry is None or entry[2] is not alias or failed:
            self._uncommon(entry, alias, sql, params, duration, failed)
            return
        entry[0] += 1
        entry[1] += duration
        # _repeat(), inlined: this is the common case.
        stat = entry[3]
        stat.count += 1
        stat.time += duration
        if stat.count == self.threshold:
            stat.site = call_site(skip=3)
        params_seen = entry[4]
        try:
            duplicate = params in params_seen
        except TypeError:  # unhashable (a list, a dict): compared by repr
            params = repr(params)
            duplicate = params in params_seen
        if duplicate:
            stat.duplicates += 1
            if stat.site is None:
                stat.site = call_site(skip=3)
        else:
            params_seen.add(params)

    def _repeat(
        self,
        stat: FingerprintStat,
        params_seen: set[Hashable],
        params: Any,
        duration: float,
        depth: int,
    ) -> None:
        """A run of a string that ran before: N+1 and duplicate tracking."""
        stat.count += 1
        stat.time += duration
        if stat.count == self.threshold:
            stat.site = call_site(skip=depth)
        try:
            duplicate = params in params_seen
        except TypeError:  # unhashable (a list, a dict): compared by repr
            params = repr(params)
            duplicate = params in params_seen
        if duplicate:
            stat.duplicates += 1
            if stat.site is None:
                stat.site = call_site(skip=depth)
        else:
            params_seen.add(params)

    def _uncommon(
        self,
        entry: _Entry | None,
        alias: str,
        sql: str,
        params: Any,
        duration: float,
        failed: bool,
    ) -> None:
        """A failed statement, a string's first run or a run on another alias, or no detail."""
        if failed:
            self.failed += 1
        if entry is not None and entry[2] == alias:
            entry[0] += 1
            entry[1] += duration
        elif entry is not None or not self.detailed:
            totals = self._others.get(alias)
            if totals is None:
                self._others[alias] = [1, duration]
            else:
                totals[0] += 1
                totals[1] += duration
        if entry is not None:
            self._repeat(entry[3], entry[4], params, duration, 5)
            return
        if not self.detailed:
            return
        fp = fingerprint(sql)
        stat = self.fingerprints.get(fp)
        if stat is None:
            stat = self.fingerprints[fp] = FingerprintStat(sql)
        self._statements[sql] = [1, duration, alias, stat, {_params_key(params)}]
        stat.count += 1
        stat.time += duration
        if stat.count == self.threshold:  # IN lists of other lengths ran before
            stat.site = call_site(skip=4)
        if self.keep_params and stat.params is None:
            stat.params = repr(params)

    def alias_of(self, sql: str) -> str | None:
        """The database alias ``sql`` first ran on in this capture (detailed only)."""
        entry = self._statements.get(sql)
        return None if entry is None else str(entry[2])

    @property
    def queries(self) -> int:
        """Statements run (failed ones included)."""
        return sum(int(e[0]) for e in self._statements.values()) + sum(
            int(t[0]) for t in self._others.values()
        )

    @property
    def db_time(self) -> float:
        """Seconds spent in the database, all aliases."""
        return sum(float(e[1]) for e in self._statements.values()) + sum(
            t[1] for t in self._others.values()
        )

    @property
    def by_alias(self) -> dict[str, list[float]]:
        """``[statements, seconds]`` per database alias."""
        found: dict[str, list[float]] = {}
        for count, seconds, alias, *_ in self._statements.values():
            totals = found.setdefault(alias, [0, 0.0])
            totals[0] += count
            totals[1] += seconds
        for alias, (count, seconds) in self._others.items():
            totals = found.setdefault(alias, [0, 0.0])
            totals[0] += count
            totals[1] += seconds
        return found

    @property
    def duplicates(self) -> int:
        """Statements that repeated an earlier one's SQL and parameters."""
        return sum(stat.duplicates for stat in self.fingerprints.values())

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
