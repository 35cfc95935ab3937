"""The cache failing never fails a read, and never lets a stale entry be served."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from perfkit.cache import versions
from perfkit.recording import errors
from tests.conftest import RedisServer
from tests.testapp.models import Author
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True)


def caches_on(port: int) -> dict[str, object]:
    return {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        },
    }


def test_unreachable_redis_reads_from_the_database() -> None:
    closed = caches_on(1)  # nothing listens on port 1
    Author.objects.create(name="a")
    with override_settings(CACHES=closed), override_perfkit({"CACHE_ALIAS": "shared"}):
        for expected in (1, 1, 2):
            if expected == 2:
                Author.objects.create(name="b")  # its bump fails too
            assert Author.objects.cached().count() == expected
            assert [a.name for a in Author.objects.cached().order_by("name")][-1] in {"a", "b"}
    snapshot = errors.snapshot()
    assert snapshot["cache read"].count >= 2
    assert snapshot["cache version bump"].count >= 1
    versions.forget_failed_bumps()


def test_a_failed_bump_is_retried_before_anything_is_served_again(
    own_redis: RedisServer,
) -> None:
    Author.objects.create(name="a")
    with (
        override_settings(CACHES=caches_on(own_redis.port)),
        override_perfkit({"CACHE_ALIAS": "shared"}),
    ):
        assert Author.objects.cached().count() == 1
        with CaptureQueriesContext(connection) as warm:
            assert Author.objects.cached().count() == 1
        assert len(warm.captured_queries) == 0  # stored and served
        raw = redis.Redis(port=own_redis.port)
        raw.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # every command blocks: timeouts
        Author.objects.create(name="b")  # committed; the bump times out
        assert versions.pending_bumps()
        assert Author.objects.cached().count() == 2  # not served from the cache
        time.sleep(1.6)  # Redis answers again, still holding the old entry
        assert Author.objects.cached().count() == 2  # the bump was retried first
        assert not versions.pending_bumps()


def test_server_timing_shows_the_requests_cache_hits() -> None:
    Author.objects.create(name="a")
    client = Client()
    with override_perfkit({"METRICS_SERVER_TIMING": "on"}):
        first = client.get("/cached-count/")
        second = client.get("/cached-count/")
    assert 'cache;desc="1 hits, 1 misses"' in first["Server-Timing"]
    assert 'cache;desc="2 hits, 0 misses"' in second["Server-Timing"]
    # A write invalidates but looks nothing up: no "0 hits, 0 misses" entry.
    with override_perfkit({"METRICS_SERVER_TIMING": "on"}):
        written = client.get("/add-author/")
    assert "db;" in written["Server-Timing"] and "cache;" not in written["Server-Timing"]
