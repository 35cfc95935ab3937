"""perfkit never observes itself: an idle process stops writing once its buffer drained."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from perfkit import api
from perfkit.cache import stats
from perfkit.models import Rollup
from perfkit.recording.pipeline import pipeline
from tests.conftest import needs_redis
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True)
INTERVALS = 10


def writes_of(rounds: int) -> list[str]:
    """What ``rounds`` flush intervals with no traffic wrote: statements and buffered events."""
    written = []
    for _ in range(rounds):
        if len(pipeline.buffer):
            written.append(f"{len(pipeline.buffer)} buffered events")
        with CaptureQueriesContext(connection) as captured:
            api.flush()
        sql = [q["sql"] for q in captured.captured_queries]
        written += [s for s in sql if not s.lstrip().startswith("SELECT")]
    return written


@pytest.mark.parametrize("recorder", ["db", pytest.param("redis", marks=needs_redis)])
def test_an_idle_process_makes_no_writes_after_the_drain(recorder: str) -> None:
    with override_perfkit({"RECORDER": recorder}):
        assert Client().get("/cached-count/").status_code == 200  # traffic, cache included
        api.flush()
        api.drain(include_current=True)
        assert Rollup.objects.filter(key="GET cached-count/").exists()
        api.flush()  # the drain's own run count
        assert writes_of(INTERVALS) == [], "perfkit's own flush fed itself"
        api.drain(include_current=True)
        own = Rollup.objects.filter(kind=stats.KIND, key__startswith="perfkit_")
        assert list(own.values_list("key", flat=True)) == []  # never an invalidation of its own
