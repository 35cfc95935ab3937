"""The recording pipeline against real databases and a real Redis."""

from __future__ import annotations

import logging
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client, override_settings

from perfkit import api
from perfkit.models import DrainToken, Resolution, Rollup
from perfkit.operations import status
from perfkit.recording import errors
from perfkit.recording.backends.redis import LOST_SOURCE, RedisRecorder
from perfkit.recording.pipeline import default_recorder_path, pipeline, record
from tests.conftest import RedisServer, needs_redis
from tests.utils import override_perfkit


def total_row(kind: str, key: str) -> Rollup | None:
    return Rollup.objects.filter(kind=kind, key=key, resolution=Resolution.TOTAL).first()


@pytest.mark.django_db
@override_perfkit({"RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 0})
def test_database_recorder_writes_every_resolution_and_adds_up() -> None:
    record("test", "k", {"count": 1, "x": 5}, {"peak": 7}, 1500)
    record("test", "k", {"count": 1, "x": 1}, {"peak": 3}, 2500)
    assert api.flush()
    record("test", "k", {"count": 1}, {"peak": 9}, 100_000)
    assert api.flush()
    rows = Rollup.objects.filter(kind="test", key="k")
    assert {r.resolution for r in rows} == set(Resolution)
    for resolution in (Resolution.HOUR, Resolution.DAY, Resolution.TOTAL):
        merged = [r for r in rows if r.resolution == resolution]
        assert sum(r.counters["count"] for r in merged) == 3
        assert max(r.maxima["peak"] for r in merged) == 9
        assert sum(sum(r.histogram.values()) for r in merged) == 3


def test_auto_recorder_follows_the_cache_backend() -> None:
    redis_cache = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://x"}}
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=redis_cache, PERFKIT={}):
        assert default_recorder_path().endswith("RedisRecorder")
    with override_settings(CACHES=locmem, PERFKIT={}):
        assert default_recorder_path().endswith("DatabaseRecorder")
    with override_settings(CACHES=redis_cache, PERFKIT={"RECORDER": "db"}):
        assert default_recorder_path().endswith("DatabaseRecorder")


@pytest.mark.django_db
def test_a_failing_flush_keeps_its_batch_and_counts_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=closed), override_perfkit({"RECORDER": "redis"}):
        record("test", "kept", {"count": 1})
        with caplog.at_level(logging.WARNING, logger="perfkit"):
            assert not api.flush()
            assert not api.flush()
        assert errors.snapshot()["recorder"].count == 2
        assert caplog.text.count("perfkit recorder failed") == 1  # once per interval
        kept = {key[:2] for key in pipeline.buffer.buckets()}
        assert ("test", "kept") in kept and ("perfkit_error", "recorder") in kept
    with override_perfkit({"RECORDER": "db"}):
        assert api.flush()
    row = total_row("test", "kept")
    assert row is not None and row.counters == {"count": 1}


# --- Redis -------------------------------------------------------------------


def redis_settings(port: int) -> dict[str, object]:
    return {
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "metrics": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            },
        },
        "PERFKIT": {**settings.PERFKIT, "RECORDER_CACHE_ALIAS": "metrics"},
    }


@pytest.mark.django_db(transaction=True)
def test_redis_outage_loses_no_request_and_recording_resumes(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    with override_settings(**redis_settings(own_redis.port)):
        assert client.get("/ping/").status_code == 200
        assert api.flush()
        own_redis.stop()
        with caplog.at_level(logging.WARNING, logger="perfkit"):
            for _ in range(5):
                assert client.get("/ping/").status_code == 200
                assert not api.flush()
        assert errors.snapshot()["recorder"].count == 5
        assert caplog.text.count("perfkit recorder failed") == 1
        own_redis.start()  # empty again: what it held before the outage is gone
        assert api.flush()
        api.drain(include_current=True)
    row = total_row("endpoint", "GET ping/")
    assert row is not None
    # Every request: those made during the outage, and the one written before
    # it, which the restarted Redis lost and the process resent from its journal.
    assert row.counters["count"] == 6


@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_that_lost_undrained_counts_is_reported(own_redis: RedisServer) -> None:
    """A Redis without persistence restarts between flush and drain: the loss is not silent."""
    client = Client()
    with override_settings(**redis_settings(own_redis.port)):
        for _ in range(2):
            assert client.get("/ping/").status_code == 200
            assert api.flush()
        assert LOST_SOURCE not in errors.snapshot()  # flushes alone never look like a loss
        own_redis.stop()
        own_redis.start()  # no persistence: both undrained counts are gone
        assert client.get("/ping/").status_code == 200
        assert api.flush()
        lost = errors.snapshot()[LOST_SOURCE]
        assert lost.count == 1
        assert "persistence" in lost.last_message
        assert LOST_SOURCE in [row.source for row in status.error_rows()]
        assert client.get("/ping/").status_code == 200
        assert api.flush()
        assert errors.snapshot()[LOST_SOURCE].count == 1  # reported once per loss


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_count_every_request_exactly_once() -> None:
    requests_per_thread, threads = 150, 3
    stop = threading.Event()

    def make_requests() -> None:
        client = Client()
        for i in range(requests_per_thread):
            assert client.get("/ping/").status_code == 200
            if i % 20 == 0:
                api.flush()
        connections.close_all()

    def drain_loop() -> None:
        while not stop.is_set():
            api.drain(include_current=True)
        connections.close_all()

    assert isinstance(pipeline.recorder, RedisRecorder)
    drainers = [threading.Thread(target=drain_loop) for _ in range(2)]
    writers = [threading.Thread(target=make_requests) for _ in range(threads)]
    for thread in drainers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert api.flush()
    api.drain(include_current=True)
    stop.set()
    for thread in drainers:
        thread.join()
    api.drain(include_current=True)
    row = total_row("endpoint", "GET ping/")
    assert row is not None
    assert row.counters["count"] == requests_per_thread * threads
    minute_total = sum(
        r.counters["count"]
        for r in Rollup.objects.filter(key="GET ping/", resolution=Resolution.MINUTE)
    )
    assert minute_total == requests_per_thread * threads
    assert DrainToken.objects.exists()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_drain_that_died_after_its_commit_counts_nothing_twice() -> None:
    recorder = pipeline.recorder
    assert isinstance(recorder, RedisRecorder)
    record("test", "once", {"count": 3})
    assert api.flush()
    # Claim the batch like a drain does, and commit it, but "crash" before the delete.
    api.drain(include_current=True)
    claimed_name = DrainToken.objects.get().token
    recorder.client.hset(claimed_name, "test\x1fonce\x1fc:count", 3)
    recorder.client.sadd(recorder.claimed_key, claimed_name)
    api.drain(include_current=True)
    row = total_row("test", "once")
    assert row is not None and row.counters["count"] == 3
    assert not recorder.client.exists(claimed_name)


@pytest.mark.django_db
def test_prune_keeps_totals_and_recent_rows() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 6, 1, tzinfo=UTC)
    old, recent = now - timedelta(days=500), now - timedelta(minutes=5)
    for resolution in (Resolution.MINUTE, Resolution.TEN_MINUTES, Resolution.HOUR, Resolution.DAY):
        Rollup.objects.create(kind="t", key="k", resolution=resolution, bucket=old)
        Rollup.objects.create(kind="t", key="k", resolution=resolution, bucket=recent)
    Rollup.objects.create(
        kind="t", key="k", resolution=Resolution.TOTAL, bucket=datetime(1970, 1, 1, tzinfo=UTC)
    )
    deleted = api.prune(now=now)
    assert deleted["minute"] == deleted["10 minutes"] == deleted["hour"] == deleted["day"] == 1
    assert Rollup.objects.filter(resolution=Resolution.TOTAL).count() == 1
    assert Rollup.objects.filter(bucket=recent).count() == 4
