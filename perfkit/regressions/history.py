"""Totals of rollups over any time range, read from the fewest rows that add up to it.

:mod:`perfkit.recording.query` answers windows that end now; a release
comparison needs ranges between two instants ([start of the previous
release, start of this one)). A range is cut into the coarsest aligned
buckets that fit it (minutes at its ragged edges, then ten minutes, hours,
days), at the finest resolution still kept for its start: exact to the
minute within minute retention, to the hour or day beyond.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from perfkit.conf import perfkit_settings
from perfkit.models import Resolution, Rollup
from perfkit.recording import clean, histogram
from perfkit.recording.buffer import Aggregate

LADDER = (Resolution.MINUTE, Resolution.TEN_MINUTES, Resolution.HOUR, Resolution.DAY)


def _floor(moment: datetime, width: int) -> int:
    return int(moment.timestamp()) // width * width


def finest_kept(since: datetime, now: datetime) -> int:
    """The finest resolution whose retention still holds rows from ``since``."""
    if since >= now - timedelta(hours=perfkit_settings.RETENTION_MINUTE_HOURS):
        return int(Resolution.MINUTE)
    if since >= now - timedelta(days=perfkit_settings.RETENTION_HOUR_DAYS):
        return int(Resolution.HOUR)
    return int(Resolution.DAY)


def buckets(since: datetime, until: datetime | None, now: datetime) -> dict[int, list[datetime]]:
    """Bucket starts per resolution whose rows add up to exactly ``[since, until)``.

    Both ends are rounded down to the finest kept resolution; a bucket is
    taken whole when it starts inside the range. ``until=None``: up to now,
    the bucket being written included.
    """
    finest = finest_kept(since, now)
    ladder = [int(r) for r in LADDER if int(r) >= finest]
    start = _floor(since, finest)
    stop = _floor(now, finest) + finest if until is None else _floor(until, finest)
    found: dict[int, list[datetime]] = {}
    while start < stop:
        width = next(
            w for w in reversed(ladder) if (start % w == 0 and start + w <= stop) or w == finest
        )
        found.setdefault(width, []).append(datetime.fromtimestamp(start, tz=UTC))
        start += width
    return found


def range_totals(
    kind: str,
    since: datetime,
    until: datetime | None,
    keys: Iterable[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Aggregate]:
    """Each key's merged counters, maxima and histogram over ``[since, until)`` (one query).

    ``until=None`` means up to now, the current bucket included.
    """
    now = now or datetime.now(tz=UTC)
    condition = Q()
    for resolution, starts in buckets(since, until, now).items():
        condition |= Q(resolution=resolution, bucket__in=starts)
    totals: dict[str, Aggregate] = {}
    if not condition:
        return totals
    queryset = Rollup.objects.using(perfkit_settings.DATABASE_ALIAS).filter(condition, kind=kind)
    if keys is not None:
        queryset = queryset.filter(key__in=[clean.key_of(k) for k in keys])
    for key, label, counters, maxima, hist in queryset.values_list(
        "key", "label", "counters", "maxima", "histogram"
    ):
        shown = label or key
        aggregate = totals.get(shown)
        if aggregate is None:
            aggregate = totals[shown] = Aggregate()
        aggregate.add(counters, maxima)
        histogram.merge(aggregate.histogram, hist)
    return totals
