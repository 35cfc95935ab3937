"""The Slow endpoints list reads few coarse rows per key; its figures must not move.

Rollups are written the way the recorders write them (``store.write_batch``:
minute, ten-minute, hour and day rows in one transaction) for minutes on and
around every edge a window has: its first minute and the one before,
ten-minute, hour and day boundaries inside it, the current partial minute
and a minute ahead (a process whose clock runs fast). Every window's list is
then compared with a straightforward merge of all the minute rows inside it.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from perfkit.metrics import dashboard
from perfkit.metrics.dashboard import EndpointRow
from perfkit.metrics.run import ENDPOINT_KIND
from perfkit.models import Resolution, Rollup
from perfkit.recording import clean, histogram, store
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.recording.query import WINDOWS, Part, Window, bucket_histograms
from perfkit.recording.trends import bucket_p95

KEYS = [
    "GET shop/books/",
    "GET shop/books/<int:pk>/",
    "POST shop/cart/",
    "task shop.tasks.send_mail",
    "GET search/" + "<str:term>/" * 40,  # longer than the column: stored hashed
]
HOUR = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
NOWS = [
    HOUR + timedelta(seconds=30),  # the window starts at 11:01: 9 minute rows, 5 ten-minute
    HOUR + timedelta(minutes=7, seconds=20),
    HOUR + timedelta(minutes=9, seconds=59),  # starts on a ten-minute boundary
    HOUR + timedelta(minutes=10),
    HOUR + timedelta(minutes=59, seconds=59),  # starts on the hour: one hour row per key
    HOUR.replace(hour=0) + timedelta(seconds=5),  # the 24 h window starts on a day
    HOUR.replace(hour=0) + timedelta(hours=1, minutes=1),
]


def _edges(now: datetime) -> set[int]:
    """Epoch minutes on and around every bucket edge of every window at ``now``."""
    minutes = set()
    for window in WINDOWS.values():
        since = int(window.since(window.resolution, now).timestamp())
        for part in window.parts(now):
            for edge in (part.since, part.until):
                if edge is not None:
                    start = int(edge.timestamp())
                    minutes |= {start - 60, start, start + 60}
        minutes |= {since - 60, since, since + 60}
    current = int(now.timestamp()) // 60 * 60
    return minutes | {current, current - 60, current + 60}


def _aggregate(rng: random.Random, label: str) -> Aggregate:
    aggregate = Aggregate(label=label)
    for _ in range(rng.randint(1, 6)):
        queries = rng.randint(0, 40)
        aggregate.add(
            {"count": 1, "errors": int(rng.random() < 0.2), "queries": queries, "n1": 1},
            {"dur_us": rng.randint(50, 5_000_000), "queries": queries},
            rng.choice([80, 900, 12_000, 250_000, 4_000_000]) * rng.uniform(0.5, 1.5),
        )
    return aggregate


def _write_traffic(seed: int) -> None:
    rng = random.Random(seed)
    minutes: set[int] = set()
    for now in NOWS:
        minutes |= _edges(now)
    first = int((HOUR - timedelta(days=32)).timestamp()) // 60 * 60
    last = int((HOUR + timedelta(hours=2)).timestamp()) // 60 * 60
    minutes |= {rng.randrange(first, last, 60) for _ in range(300)}
    # Every minute of the hour before HOUR, so the last hour is busy throughout.
    minutes |= set(range(int(HOUR.timestamp()) - 3600, int(HOUR.timestamp()), 60))
    batch: Batch = {}
    for minute in sorted(minutes):
        for shown in rng.sample(KEYS, rng.randint(1, len(KEYS))):
            key, label = clean.rollup_key(shown)
            batch[ENDPOINT_KIND, key, minute] = _aggregate(rng, label)
    store.write_batch(batch, "default")


def _from_minutes(window: Window, now: datetime) -> dict[str, EndpointRow]:
    """The window's rows the plain way: merge every minute row inside it."""
    since = window.since(window.resolution, now)
    totals: dict[str, Aggregate] = {}
    for row in Rollup.objects.filter(
        kind=ENDPOINT_KIND, resolution=Resolution.MINUTE, bucket__gte=since
    ):
        total = totals.setdefault(row.label or row.key, Aggregate())
        total.add(row.counters, row.maxima)
        histogram.merge(total.histogram, row.histogram)
    return {key: EndpointRow.from_total(key, total) for key, total in totals.items()}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1])
def test_every_window_matches_a_merge_of_its_minute_rows(seed: int) -> None:
    _write_traffic(seed)
    for now in NOWS:
        for window in WINDOWS.values():
            expected = _from_minutes(window, now)
            assert expected, (window.name, now)
            found = dashboard.endpoint_rows(window, now=now)
            assert {r.endpoint: asdict(r) for r in found} == {
                k: asdict(r) for k, r in expected.items()
            }, (window.name, now)


@pytest.mark.django_db
def test_sparklines_read_every_bucket_of_the_window() -> None:
    _write_traffic(3)
    for now in NOWS:
        for window in WINDOWS.values():
            since = window.since(window.resolution, now)
            expected: dict[str, dict[datetime, histogram.Histogram]] = {}
            for row in Rollup.objects.filter(
                kind=ENDPOINT_KIND, resolution=window.resolution, bucket__gte=since
            ):
                expected.setdefault(row.label or row.key, {})[row.bucket] = histogram.merged(
                    [row.histogram]
                )
            assert bucket_histograms(ENDPOINT_KIND, window, KEYS, now) == expected


@pytest.mark.django_db
def test_every_minute_of_the_last_hour_counts_once_at_every_minute() -> None:
    """Sliding the clock over two hours: exactly the last 60 minutes, both edges exact.

    Each minute's figures are unique (its count grows, its longest request
    shrinks, with the minute), so a minute too many or too few at either edge
    changes the requests, the max or the percentiles. Each minute is written
    as it comes, the way recorders do (a later minute would count: clock skew).
    """
    key = "GET edges/"
    first = int((HOUR - timedelta(hours=2)).timestamp())

    def write(n: int) -> None:
        aggregate = Aggregate()
        for _ in range(n + 1):
            aggregate.add({"count": 1, "queries": n}, {"dur_us": 10_000_000 - n}, 100.0 * (n + 1))
        store.write_batch({(ENDPOINT_KIND, key, first + 60 * n): aggregate}, "default")

    for n in range(120):
        write(n)
    window = WINDOWS["1h"]
    for current in range(120, 240):
        write(current)
        inside = range(current - 59, current + 1)
        hist: histogram.Histogram = {}
        for n in inside:
            histogram.add(hist, 100.0 * (n + 1), n + 1)
        counters = {
            "count": sum(n + 1 for n in inside),
            "queries": sum(n * (n + 1) for n in inside),
        }
        expected = EndpointRow.from_total(
            key, Aggregate(counters, {"dur_us": 10_000_000 - inside[0]}, hist)
        )
        for second in (0, 59):
            now = datetime.fromtimestamp(first + 60 * current + second, tz=UTC)
            (found,) = dashboard.endpoint_rows(window, now=now)
            assert asdict(found) == asdict(expected), now


@pytest.mark.django_db
def test_rows_keep_the_bucket_of_their_95th_percentile() -> None:
    _write_traffic(5)
    rows = Rollup.objects.filter(kind=ENDPOINT_KIND)
    assert rows.exclude(p95_bucket=None).exists()
    for row in rows:
        stored = {int(k): v for k, v in row.histogram.items()}
        assert row.p95_bucket == histogram.percentile_index(stored, 95), row


@pytest.mark.django_db
def test_trends_are_the_95th_percentile_of_every_bucket() -> None:
    """Read from the stored p95 bucket, or from the histogram on rows written without it."""
    _write_traffic(3)
    Rollup.objects.filter(pk__in=Rollup.objects.order_by("?").values("pk")[:200]).update(
        p95_bucket=None
    )
    for now in NOWS:
        for window in WINDOWS.values():
            expected = {
                key: {
                    int(bucket.timestamp()): histogram.percentile(points, 95)
                    for bucket, points in series.items()
                }
                for key, series in bucket_histograms(ENDPOINT_KIND, window, KEYS, now).items()
            }
            assert bucket_p95(ENDPOINT_KIND, window, KEYS, now) == expected, (window.name, now)


def test_parts_cover_the_window_once() -> None:
    minute, ten, hour, day = 60, 600, 3600, 86400
    now = HOUR + timedelta(minutes=7, seconds=20)  # 12:07:20: the window starts at 11:08
    assert WINDOWS["1h"].parts(now) == [
        Part(minute, HOUR - timedelta(minutes=52), HOUR - timedelta(minutes=50)),
        Part(ten, HOUR - timedelta(minutes=50), HOUR),
        Part(hour, HOUR),
    ]
    now = HOUR + timedelta(minutes=59, seconds=59)
    assert WINDOWS["1h"].parts(now) == [Part(hour, HOUR)]
    midnight = HOUR.replace(hour=0)
    assert WINDOWS["24h"].parts(HOUR) == [
        Part(hour, HOUR - timedelta(hours=23), midnight),
        Part(day, midnight),
    ]
    assert WINDOWS["7d"].parts(HOUR) == [Part(day, midnight - timedelta(days=6))]
