"""Releases: recorded by a deploy script or noted once per process from ``RELEASE``.

Rollups are not keyed by release. A release is the time from its
``started_at`` to the next one's, so "this release against the previous
one" compares two ranges of the same rollups (:func:`compare`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.regressions.figures import ENDPOINT_KIND, Figures
from perfkit.regressions.history import range_totals
from perfkit.regressions.models import Release

# A process notes its release again this often (its last_seen), no more.
NOTE_EVERY_SECONDS = 600.0
RETRY_SECONDS = 60.0


def record_release(name: str, at: datetime | None = None, now: datetime | None = None) -> Release:
    """Record release ``name`` (started ``at``, default now); idempotent.

    A release already known keeps its start unless ``at`` is given, and is
    marked seen. Only the last ``RELEASES_KEPT`` releases are kept.
    """
    now = now or datetime.now(tz=UTC)
    using = perfkit_settings.DATABASE_ALIAS
    releases = Release.objects.using(using)
    updates: dict[str, datetime] = {"last_seen": now}
    if at is not None:
        updates["started_at"] = at
    if not releases.filter(name=name).update(**updates):
        try:
            with transaction.atomic(using=using):
                releases.create(name=name, started_at=at or now, first_seen=now, last_seen=now)
        except IntegrityError:  # another process recorded it first
            releases.filter(name=name).update(**updates)
        _prune(using)
    return releases.get(name=name)


def _prune(using: str) -> None:
    keep = perfkit_settings.RELEASES_KEPT
    stale = (
        Release.objects.using(using)
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)[keep:]
    )
    Release.objects.using(using).filter(pk__in=list(stale)).delete()


class _Noted:
    """What this process recorded last, so the flush hook costs one comparison."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[int, str] | None = None
        self.next_at = 0.0

    def reset(self) -> None:
        with self.lock:
            self.key, self.next_at = None, 0.0


_noted = _Noted()


def note_running() -> None:
    """Flush hook: record the running release once per process (and every few minutes).

    Runs from the flush thread or a flush at exit, never in a request; a
    failure is counted and retried a minute later, never raised.
    """
    name = perfkit_settings.RELEASE
    if not name:
        return
    key = (os.getpid(), name)
    now = time.monotonic()
    with _noted.lock:
        if _noted.key != key:  # a new process (fork) or a new release name
            _noted.key, _noted.next_at = key, 0.0
        if now < _noted.next_at:
            return
        _noted.next_at = now + RETRY_SECONDS
    try:
        record_release(name)
    except Exception as exc:
        errors.report("release recording", exc)
        return
    with _noted.lock:
        _noted.next_at = now + NOTE_EVERY_SECONDS


def releases_between(since: datetime, until: datetime | None = None) -> list[tuple[str, datetime]]:
    """(name, start) of the releases that started in ``[since, until]``, oldest first.

    For vertical markers on charts.
    """
    found = Release.objects.using(perfkit_settings.DATABASE_ALIAS).filter(started_at__gte=since)
    if until is not None:
        found = found.filter(started_at__lte=until)
    return list(found.order_by("started_at").values_list("name", "started_at"))


def current_and_previous(now: datetime | None = None) -> tuple[Release | None, Release | None]:
    """The release running at ``now`` and the one before it."""
    now = now or datetime.now(tz=UTC)
    latest = list(
        Release.objects.using(perfkit_settings.DATABASE_ALIAS)
        .filter(started_at__lte=now)
        .order_by("-started_at", "-pk")[:2]
    )
    current = latest[0] if latest else None
    previous = latest[1] if len(latest) > 1 else None
    return current, previous


@dataclass(frozen=True)
class ReleaseComparison:
    """One endpoint in the running release against the previous one."""

    endpoint: str
    release: str
    started_at: datetime
    previous: str
    previous_started_at: datetime
    this: Figures
    before: Figures


def compare(endpoint: str, now: datetime | None = None) -> ReleaseComparison | None:
    """``endpoint`` over [start of this release, now] vs [start of the previous, start of this].

    ``None`` without two releases.
    """
    now = now or datetime.now(tz=UTC)
    return _compare(endpoint, *current_and_previous(now), now)


def for_endpoint_page(
    endpoint: str, since: datetime, until: datetime, now: datetime | None = None
) -> tuple[list[tuple[str, datetime]], ReleaseComparison | None]:
    """Release starts within ``[since, until]`` and :func:`compare`, from one read of releases.

    What an endpoint's page draws: markers on its charts and the comparison
    table (two more queries, only with two releases).
    """
    now = now or datetime.now(tz=UTC)
    kept = list(
        Release.objects.using(perfkit_settings.DATABASE_ALIAS).order_by("-started_at", "-pk")
    )
    starts = [(r.name, r.started_at) for r in reversed(kept) if since <= r.started_at <= until]
    running = [r for r in kept if r.started_at <= now]
    current = running[0] if running else None
    previous = running[1] if len(running) > 1 else None
    return starts, _compare(endpoint, current, previous, now)


def _compare(
    endpoint: str, current: Release | None, previous: Release | None, now: datetime
) -> ReleaseComparison | None:
    if current is None or previous is None:
        return None
    this = range_totals(ENDPOINT_KIND, current.started_at, None, [endpoint], now=now)
    before = range_totals(
        ENDPOINT_KIND, previous.started_at, current.started_at, [endpoint], now=now
    )
    return ReleaseComparison(
        endpoint=endpoint,
        release=current.name,
        started_at=current.started_at,
        previous=previous.name,
        previous_started_at=previous.started_at,
        this=Figures.of(this.get(endpoint)),
        before=Figures.of(before.get(endpoint)),
    )
