"""A Redis without persistence restarts before a drain: live processes' totals stay exact.

Each test runs its own ``redis-server`` (``--save "" --appendonly no``) and
kills it (SIGKILL) and starts it again on the same port: everything it held
is gone, as after a crash or a restart of CI's or a developer's Redis.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from perfkit import api
from perfkit.models import DrainedBatch, Resolution, Rollup
from perfkit.recording import errors
from perfkit.recording.backends.journal import Journal
from perfkit.recording.backends.redis import CONFLICT_SOURCE, LOST_SOURCE, RedisRecorder
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.recording.pipeline import pipeline, record
from tests.conftest import RedisServer
from tests.core.test_exactly_once import LossyProxy

pytestmark = pytest.mark.django_db(transaction=True)

# A closed minute (an hour ago) and one a drain without include_current
# leaves alone for the whole test (an hour ahead).
NOW = int(time.time()) // 60 * 60
PAST, FUTURE = NOW - 3600, NOW + 3600


@pytest.fixture
def restartable_redis() -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        if os.environ.get("CI") or settings.REDIS_URL:
            pytest.fail("redis-server is not installed: these tests restart a Redis of their own")
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    try:
        with override_settings(
            CACHES={
                **settings.CACHES,
                "restartable": {
                    "BACKEND": "django_redis.cache.RedisCache",
                    "LOCATION": f"redis://127.0.0.1:{server.port}/0",
                    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
                },
            },
            PERFKIT={
                **settings.PERFKIT,
                "RECORDER": "redis",
                "RECORDER_CACHE_ALIAS": "restartable",
            },
        ):
            pipeline.reset_recorder()
            yield server
    finally:
        pipeline.reset_recorder()
        server.stop()


def restart(server: RedisServer) -> None:
    server.stop()  # SIGKILL, no persistence: everything undrained is gone
    server.start()


def recorder() -> RedisRecorder:
    own = pipeline.recorder
    assert isinstance(own, RedisRecorder)
    return own


def batch(**counts_per_minute: int) -> Batch:
    """One batch of ``test k`` counts: ``past=3, future=4``."""
    minutes = {"past": PAST, "future": FUTURE}
    return {
        ("test", "k", minutes[name]): Aggregate(counters={"count": count}, maxima={"peak": count})
        for name, count in counts_per_minute.items()
    }


def counted(minute: int | None = None) -> int:
    """What the database holds for ``test k``: one minute's count, or the total."""
    rows = Rollup.objects.filter(kind="test", key="k")
    if minute is None:
        row = rows.filter(resolution=Resolution.TOTAL).first()
    else:
        bucket = datetime.fromtimestamp(minute, tz=UTC)
        row = rows.filter(resolution=Resolution.MINUTE, bucket=bucket).first()
    return int(row.counters.get("count", 0)) if row else 0


def left_in_redis(own: RedisRecorder) -> list[str]:
    return sorted(
        key.decode()
        for key in own.client.scan_iter(match=f"{own.prefix}:*")
        if not key.decode().startswith((f"{own.prefix}:writer:", f"{own.prefix}:batch:"))
    )


def test_a_restart_between_flush_and_drain_loses_nothing_and_counts_nothing_twice(
    restartable_redis: RedisServer,
) -> None:
    own = recorder()
    own.write(batch(past=3), batch_id="b1")
    own.write(batch(future=4), batch_id="b2")
    own.write(batch(past=5, future=6), batch_id="b3")
    assert own.drain() == 1  # the closed minute only: 3 + 5 are in the database
    assert counted(PAST) == 8 and counted() == 8

    restart(restartable_redis)  # b2 and b3's future counts (4 + 6) are gone
    own.write(batch(future=7), batch_id="b4")  # finds the loss, resends b1..b4
    assert errors.snapshot()[LOST_SOURCE].count == 1
    assert "journal" in errors.snapshot()[LOST_SOURCE].last_message

    restart(restartable_redis)  # again, before any drain: the resends are gone too
    own.write(batch(future=1), batch_id="b5")
    assert errors.snapshot()[LOST_SOURCE].count == 2

    own.drain(include_current=True)
    assert counted(PAST) == 3 + 5  # resent, but drained before the restart: once
    assert counted(FUTURE) == 4 + 6 + 7 + 1
    assert counted() == 3 + 4 + 5 + 6 + 7 + 1
    maxima = Rollup.objects.get(kind="test", key="k", resolution=Resolution.TOTAL).maxima
    assert maxima == {"peak": 7}
    assert left_in_redis(own) == []

    own.write(batch(future=2), batch_id="b6")  # back to normal: the shared minute hash
    assert errors.snapshot()[LOST_SOURCE].count == 2
    own.drain(include_current=True)
    assert counted() == 3 + 4 + 5 + 6 + 7 + 1 + 2
    assert DrainedBatch.objects.filter(batch_id="b6", minute=FUTURE).exists()


def test_an_idle_process_notices_the_restart_and_resends(
    restartable_redis: RedisServer,
) -> None:
    for _ in range(3):
        record("test", "idle", {"count": 2})
    assert api.flush()
    assert api.flush()  # nothing to write: looks, finds its marker, does nothing
    assert LOST_SOURCE not in errors.snapshot()

    restart(restartable_redis)
    assert api.flush()  # still nothing to write, but what it wrote is gone: resent
    assert errors.snapshot()[LOST_SOURCE].count == 1
    api.drain(include_current=True)
    row = Rollup.objects.get(kind="test", key="idle", resolution=Resolution.TOTAL)
    assert row.counters["count"] == 6

    assert api.flush()
    assert errors.snapshot()[LOST_SOURCE].count == 1  # one loss, reported once


@pytest.mark.parametrize("first", ["resend", "in-flight drain"])
def test_a_drain_that_read_a_minute_before_the_restart_never_double_counts(
    restartable_redis: RedisServer, first: str
) -> None:
    own = recorder()
    own.write(batch(past=3), batch_id="b1")
    own.write(batch(past=5), batch_id="b2")
    # A drain claims and reads the minute, then Redis restarts before it commits.
    claimed = own.claim(f"{own.prefix}:m:{PAST}")
    assert claimed is not None
    read = own.read_claimed(claimed)
    assert read[1] == ["b1", "b2"]
    restart(restartable_redis)
    own.write(batch(future=1), batch_id="b3")  # finds the loss, resends b1..b3

    if first == "resend":
        own.drain(include_current=True)  # counts the resends of b1, b2 and b3
        assert not own.commit_claimed(claimed, *read)  # b1 and b2 counted: nothing
        assert errors.snapshot()[CONFLICT_SOURCE].count == 1
    else:
        assert own.commit_claimed(claimed, *read)
        own.drain(include_current=True)  # b1 and b2's resends are discarded
        assert CONFLICT_SOURCE not in errors.snapshot()
    assert counted(PAST) == 8
    assert counted() == 9


def test_a_marker_lost_alone_resends_but_never_double_counts(
    restartable_redis: RedisServer,
) -> None:
    """Eviction took only the process's marker: its batches are still in the minute hash."""
    own = recorder()
    own.write(batch(past=3), batch_id="b1")
    own.write(batch(past=5), batch_id="b2")
    own.client.delete(own._writer_key)
    own.write(batch(past=1), batch_id="b3")  # takes it for a loss and resends b1..b3
    assert errors.snapshot()[LOST_SOURCE].count == 1
    own.drain()  # the minute hash first (b1, b2), then the resends (b1, b2 discarded)
    assert counted(PAST) == 9
    assert CONFLICT_SOURCE not in errors.snapshot()


def test_a_batch_whose_reply_was_lost_then_drained_then_lost_by_redis_counts_once(
    restartable_redis: RedisServer,
) -> None:
    """The first write is applied but its reply lost; a drain counts it; Redis restarts.

    The pipeline then resends that batch under its id, whose ``NX`` marker
    the restart took: it must go the resend way, where the drain knows it.
    """
    proxy = LossyProxy(restartable_redis.port, every=2)  # 1st EVALSHA: NOSCRIPT
    caches = {
        **settings.CACHES,
        "lossy": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{proxy.port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        },
    }
    try:
        with override_settings(
            CACHES=caches, PERFKIT={**settings.PERFKIT, "RECORDER_CACHE_ALIAS": "lossy"}
        ):
            pipeline.reset_recorder()
            record("test", "k", {"count": 1})
            assert not api.flush()  # applied, reply lost: kept to be resent
            assert proxy.dropped == 1
            proxy.every = 0
            api.drain(include_current=True)
            assert counted() == 1
            restart(restartable_redis)
            record("test", "k", {"count": 2})
            assert any(api.flush() for _ in range(5))  # the first may meet a dead connection
            api.drain(include_current=True)
    finally:
        pipeline.reset_recorder()
        proxy.close()
    assert counted() == 3
    assert CONFLICT_SOURCE not in errors.snapshot()


def test_without_a_journal_the_loss_is_reported_and_later_counts_stay_exact(
    restartable_redis: RedisServer,
) -> None:
    with override_settings(PERFKIT={**settings.PERFKIT, "RECORDER_REDIS_JOURNAL_SECONDS": 0}):
        own = recorder()
        own.write(batch(future=3), batch_id="b1")
        assert len(own.journal) == 0
        restart(restartable_redis)
        own.write(batch(future=4), batch_id="b2")
        assert errors.snapshot()[LOST_SOURCE].count == 1
        own.drain(include_current=True)
    assert counted() == 4  # b1 was lost (nothing kept it), b2 counted once


def test_the_journal_is_bounded_by_its_window_and_its_size() -> None:
    journal = Journal(max_fields=10)
    for n in range(6):  # 2 fields each, written at t = 0, 10, ..., 50
        journal.add(f"b{n}", {PAST: ["a", 1], FUTURE: ["b", 2]}, now=10.0 * n)
    assert [entry.batch_id for entry in journal.entries()] == ["b1", "b2", "b3", "b4", "b5"]
    assert journal.fields == 10 and journal.overflowed == 1
    journal.add("b3", {PAST: ["a", 9]}, now=55.0)  # a resend replaces its entry
    assert journal.fields == 9
    journal.expire(window=25.0, now=60.0)  # keeps what was written at t >= 35
    assert [entry.batch_id for entry in journal.entries()] == ["b4", "b5", "b3"]
    assert journal.fields == 5


def test_prune_keeps_batch_rows_while_a_resend_may_still_wait() -> None:
    now = datetime.now(tz=UTC)
    DrainedBatch.objects.create(batch_id="old", minute=PAST)
    DrainedBatch.objects.create(batch_id="recent", minute=PAST)
    DrainedBatch.objects.filter(batch_id="old").update(drained_at=now - timedelta(hours=3))
    DrainedBatch.objects.filter(batch_id="recent").update(drained_at=now - timedelta(minutes=90))
    assert api.prune(now=now)["drained batches"] == 1  # 2 x 1 h: 3 h old goes, 90 min stays
    assert list(DrainedBatch.objects.values_list("batch_id", flat=True)) == ["recent"]
