from __future__ import annotations

import time

import pytest
from django.test import Client

from perfkit import api
from perfkit.models import Resolution, Rollup
from perfkit.recording.pipeline import pipeline
from perfkit.schedule import beat_schedule
from perfkit.tasks import drain, prune
from tests.utils import override_perfkit


@pytest.mark.django_db(transaction=True)
def test_flush_thread_brings_requests_to_the_database_without_any_worker() -> None:
    with override_perfkit({"RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 0.1}):
        assert Client().get("/ping/").status_code == 200
        deadline = time.monotonic() + 20
        found = None
        while time.monotonic() < deadline and found is None:
            found = Rollup.objects.filter(key="GET ping/", resolution=Resolution.MINUTE).first()
            time.sleep(0.05)
        assert found is not None and found.counters["count"] == 1
        assert pipeline.last_flush_at is not None
    # Turned off again: the thread ends and counts wait for an explicit flush.
    time.sleep(0.3)
    assert pipeline._thread is None or not pipeline._thread.is_alive()


def test_beat_schedule_names_registered_tasks() -> None:
    schedule = beat_schedule()
    assert {entry["task"] for entry in schedule.values()} == {
        "perfkit.drain",
        "perfkit.prune",
        "perfkit_metrics.purge_samples",
        "perfkit_exports.reap",
        "perfkit_exports.run_due_reports",
        "perfkit_exports.purge_files",
        "perfkit_regressions.detect",
    }
    assert drain.name == "perfkit.drain" and prune.name == "perfkit.prune"


@pytest.mark.django_db
def test_tasks_run_the_api() -> None:
    assert drain.apply().get() == api.drain()
    assert set(prune.apply().get()) == {
        "minute",
        "10 minutes",
        "hour",
        "day",
        "drain tokens",
        "drained batches",
    }


def test_scopes_nest_and_count_in_every_open_scope() -> None:
    from perfkit.recording import scope

    outer = scope.begin()
    scope.add("cache_hits")
    inner = scope.begin()  # an eager task inside a request
    scope.add("cache_hits", 2)
    assert scope.current() == {"cache_hits": 2}
    scope.end(inner)
    assert scope.is_open() and scope.current() == {"cache_hits": 3}
    scope.end(outer)
    assert not scope.is_open() and scope.current() == {}
