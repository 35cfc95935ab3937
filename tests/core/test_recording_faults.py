"""Faults of the recording pipeline: bad values, over-long keys, a dead flush thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DataError
from django.test import Client

from perfkit import api
from perfkit.capture import Capture
from perfkit.metrics import samples
from perfkit.metrics.models import SlowRequest
from perfkit.metrics.outcome import Outcome
from perfkit.models import Resolution, Rollup
from perfkit.operations.dbinsights import N_PLUS_ONE_KIND, n_plus_one_key, top_n_plus_ones
from perfkit.recording import clean
from perfkit.recording.backends.base import Recorder
from perfkit.recording.backends.redis import parse_hash
from perfkit.recording.buffer import Batch
from perfkit.recording.pipeline import pipeline
from perfkit.recording.query import WINDOWS, key_totals, summarize
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

STATUS_URL = "/admin/perfkit/perfkitstatus/"


def _offer(**outcome: Any) -> None:
    values: dict[str, Any] = {"endpoint": "GET shop/", "method": "GET", "path": "/shop/"}
    values.update(outcome)
    samples.offer(Outcome(**values), Capture(), 5.0)


# (2) No value can poison a queue ---------------------------------------------


def test_a_path_with_nul_from_an_anonymous_request_is_written_cleaned() -> None:
    with override_perfkit({"METRICS_SLOW_MS": 0}):
        Client().get("/nope/%00/")
        assert samples.pending_count() == 1
        assert api.flush()
    sample = SlowRequest.objects.get()
    assert "\x00" not in sample.path and sample.path.startswith("/nope/")


@pytest.mark.parametrize(
    ("outcome", "check"),
    [
        ({"path": "/x/\x00/y"}, lambda s: s.path == "/x//y"),
        ({"path": "/" + "a" * 10_000}, lambda s: 0 < len(s.path) <= 2000),
        ({"path": "/caf\udce9/\ud800"}, lambda s: s.path == "/caf\ufffd/\ufffd"),
        ({"user_id": "u" * 100}, lambda s: s.user_id == "u" * 64),
        ({"user_id": "a\x00b"}, lambda s: s.user_id == "ab"),
        ({"endpoint": "GET " + "e" * 300}, lambda s: len(s.endpoint) <= 255),
        ({"method": "GET\x00"}, lambda s: s.method == "GET"),
    ],
)
def test_every_recorded_string_of_a_sample_is_cleaned_at_record_time(
    outcome: dict[str, Any], check: Any
) -> None:
    _offer(**outcome)
    _offer(endpoint="GET after/")
    assert api.flush()
    assert samples.pending_count() == 0
    written = {s.endpoint: s for s in SlowRequest.objects.all()}
    assert "GET after/" in written  # samples keep being written
    (sample,) = (s for e, s in written.items() if e != "GET after/")
    assert check(sample)


def test_clean_text_replaces_undecodable_bytes_and_lone_surrogates() -> None:
    assert clean.text(b"/caf\xe9/\x00") == "/caf\ufffd/"
    assert clean.text("\udce9\U0001f600") == "\ufffd\U0001f600"
    assert clean.text(12345, 3) == "123"
    assert clean.json_value({"a\x00": ["b\x00", 1, None]}) == {"a": ["b", 1, None]}


def test_sql_and_params_inside_a_sample_are_cleaned() -> None:
    capture = Capture(keep_params=True)
    for _ in range(6):
        sql, params = "SELECT '\x00' FROM t WHERE a = %s", ["\x00\udce9"]
        capture.query("default", sql, params, False, 0.001, False)
    samples.offer(Outcome(endpoint="GET n1/", path="/n1/"), capture, 5.0)
    assert api.flush()
    (sample,) = SlowRequest.objects.all()
    flat = json.dumps(sample.repeated, ensure_ascii=False)
    assert sample.repeated[0]["sql"] == "SELECT '' FROM t WHERE a = %s"
    assert "\x00" not in flat and not any(0xD800 <= ord(c) <= 0xDFFF for c in flat)


def test_a_batch_failing_for_its_data_is_split_and_the_bad_rows_counted(
    client: Client, admin_user: User
) -> None:
    for number in range(7):
        _offer(endpoint=f"GET good{number}/")
    # A value cleaning cannot foresee (a CHECK constraint): the database refuses the row.
    samples._pending.insert(3, {**samples._pending[0], "endpoint": "GET bad/", "status": -1})
    api.flush()
    assert samples.pending_count() == 0  # nothing left to block the queue
    assert sorted(SlowRequest.objects.values_list("endpoint", flat=True)) == [
        f"GET good{n}/" for n in range(7)
    ]
    _offer(endpoint="GET later/")
    assert api.flush()
    assert SlowRequest.objects.filter(endpoint="GET later/").exists()
    assert pipeline.bad_rows_dropped == 1
    api.drain(include_current=True)  # the Redis recorder's counts reach the rollups
    client.force_login(admin_user)
    page = client.get(STATUS_URL)
    assert page.context["recorder"]["bad_rows_dropped"] == 1
    assert "rows dropped for bad data" in page.content.decode()
    rows = {row.source: row for row in page.context["errors"]}
    assert rows["rows dropped for bad data"].last_hour == 1


class PickyRecorder(Recorder):
    """Refuses, for its data, every batch holding a key with "poison" in it."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, batch: Batch) -> None:
        if any("poison" in key for _, key, _ in batch):
            raise DataError("value too long for type character varying(32)")
        self.written += [key for _, key, _ in batch]


def test_a_rollup_batch_failing_for_its_data_is_split_not_retried_forever() -> None:
    recorder = PickyRecorder()
    pipeline._recorder = recorder
    for number in range(9):
        pipeline.record("test", f"good{number}", {"count": 1})
    pipeline.record("test", "poison", {"count": 1})
    pipeline.record("test", "more poison", {"count": 1})
    before = pipeline.bad_rows_dropped
    api.flush()
    assert sorted(recorder.written) == sorted(f"good{n}" for n in range(9))
    assert pipeline.bad_rows_dropped - before == 2
    pipeline.record("test", "later", {"count": 1})
    pipeline._recorder = recorder
    api.flush()
    assert "later" in recorder.written
    assert not any("poison" in key for _, key, _ in pipeline.buffer.take())


# (7) Keys longer than a column are hashed, never cut into collisions ---------

LONG_A = "GET " + "shop/" * 60 + "a" * 86 + "/<int:pk>/"
LONG_B = "GET " + "shop/" * 60 + "b" * 86 + "/<int:pk>/"


def _flush_and_drain() -> None:
    assert api.flush()
    api.drain(include_current=True)


def test_two_long_keys_sharing_a_prefix_stay_two_readable_rows(
    client: Client, admin_user: User
) -> None:
    assert len(LONG_A) == len(LONG_B) == 400 and LONG_A[:300] == LONG_B[:300]
    pipeline.record("endpoint", LONG_A, {"count": 1}, None, 1000)
    pipeline.record("endpoint", LONG_B, {"count": 2}, None, 1000)
    _flush_and_drain()
    totals = Rollup.objects.filter(kind="endpoint", resolution=Resolution.TOTAL)
    assert totals.count() == 2
    assert all(len(row.key) <= 255 for row in totals)
    assert sorted(row.label for row in totals) == [LONG_A, LONG_B]
    found = key_totals("endpoint", WINDOWS["1h"])
    assert found[LONG_A].counters["count"] == 1 and found[LONG_B].counters["count"] == 2
    assert {s.key for s in summarize("endpoint", WINDOWS["1h"], [LONG_B])} == {LONG_B}
    client.force_login(admin_user)
    page = client.get("/admin/perfkit_metrics/endpointstats/", {"window": "1h"})
    listed = {row.endpoint for row, _ in page.context["rows"]}
    assert listed == {LONG_A, LONG_B}
    detail = client.get("/admin/perfkit_metrics/endpointstats/endpoint/", {"key": LONG_B})
    assert detail.status_code == 200 and detail.context["detail"].row.requests == 2


def test_a_slow_sample_of_a_long_endpoint_shows_on_its_detail_page(
    client: Client, admin_user: User
) -> None:
    with override_perfkit({"METRICS_SLOW_MS": 0}):
        _offer(endpoint=LONG_A)
    pipeline.record("endpoint", LONG_A, {"count": 1}, None, 1000)
    _flush_and_drain()
    client.force_login(admin_user)
    detail = client.get("/admin/perfkit_metrics/endpointstats/endpoint/", {"key": LONG_A})
    assert len(detail.context["samples"]) == 1


def test_n_plus_one_fingerprints_of_one_long_call_site_stay_apart() -> None:
    site = "templates/" + "deep/" * 60 + "list.html:12 in render"
    first = n_plus_one_key(site, "SELECT a FROM t WHERE id = %s")
    second = n_plus_one_key(site, "SELECT b FROM t WHERE id = %s")
    pipeline.record(N_PLUS_ONE_KIND, first, {"runs": 1, "queries": 6})
    pipeline.record(N_PLUS_ONE_KIND, second, {"runs": 1, "queries": 7})
    _flush_and_drain()
    assert {(n.site, n.sql) for n in top_n_plus_ones("1h")} == {
        (site, "SELECT a FROM t WHERE id = %s"),
        (site, "SELECT b FROM t WHERE id = %s"),
    }


def test_very_long_keys_keep_a_unique_readable_label_that_finds_them() -> None:
    base = "x" * 5000
    keys = {clean.rollup_key(base + "1"), clean.rollup_key(base + "2")}
    assert len({key for key, _ in keys}) == 2 and len({label for _, label in keys}) == 2
    for key, label in keys:
        assert len(key) <= clean.KEY_MAX and len(label) == clean.LABEL_MAX
        assert clean.key_of(label) == key
    assert clean.rollup_key("short\x00") == ("short", "")


def test_the_redis_field_encoding_keeps_labels_and_keys_holding_the_separator() -> None:
    data = {
        b"endpoint\x1fa\x1fb\x1fc:count": b"3",
        b"endpoint\x1fa\x1fb\x1fl:": "full text \u2026".encode(),
    }
    ((bucket, aggregate),) = parse_hash(data, 60).items()
    assert bucket == ("endpoint", "a\x1fb", 60)
    assert aggregate.counters == {"count": 3} and aggregate.label == "full text \u2026"


# (3) A dead flush thread is restarted ------------------------------------------


class Killed(BaseException):
    """Not an ``Exception``: nothing in the flush catches it, so the thread ends."""


class DyingRecorder(Recorder):
    """Kills the flush thread at its first writes, then writes normally."""

    deaths = 0
    written: list[str] = []  # shared by every instance on purpose

    def write(self, batch: Batch) -> None:
        if DyingRecorder.deaths > 0:
            DyingRecorder.deaths -= 1
            raise Killed("the flush thread dies")
        DyingRecorder.written += [key for _, key, _ in batch]


def _wait_for(condition: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def flush_thread() -> Iterator[None]:
    DyingRecorder.deaths = 0
    DyingRecorder.written = []
    recorder = f"{__name__}.DyingRecorder"
    with override_perfkit({"RECORDER": recorder, "RECORDER_FLUSH_INTERVAL": 0.05}):
        yield
        pipeline.stop_thread()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_thread")
def test_a_dead_flush_thread_is_restarted_by_record_and_counted(
    client: Client, admin_user: User
) -> None:
    DyingRecorder.deaths = 1
    before = pipeline.thread_restarts
    pipeline.record("test", "first", {"count": 1})
    thread = pipeline._thread
    assert thread is not None
    assert _wait_for(lambda: not thread.is_alive())

    def recorded_after() -> bool:
        pipeline.record("test", "after", {"count": 1})
        return "after" in DyingRecorder.written

    assert _wait_for(recorded_after)
    assert pipeline.thread_restarts == before + 1
    assert pipeline._thread is not thread and pipeline._thread.is_alive()
    assert "first" in DyingRecorder.written  # the dying flush's batch was kept
    client.force_login(admin_user)
    page = client.get(STATUS_URL)
    assert page.context["recorder"]["thread_restarts"] == before + 1
    assert page.context["recorder"]["flush_age_seconds"] is not None
    assert "Flush thread restarts" in page.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_thread")
def test_an_error_before_the_flush_handles_errors_does_not_end_the_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"n": 0}
    take = pipeline.buffer.take

    def broken_take() -> Batch:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("before the try")
        return take()

    monkeypatch.setattr(pipeline.buffer, "take", broken_take)
    pipeline.record("test", "k", {"count": 1})
    assert _wait_for(lambda: "k" in DyingRecorder.written)


@pytest.mark.django_db(transaction=True)
def test_a_wrong_database_alias_never_raises_into_record() -> None:
    wrong = {"RECORDER": "db", "DATABASE_ALIAS": "missing", "RECORDER_FLUSH_INTERVAL": 0.05}
    with override_perfkit(wrong):
        pipeline.buffer.take()
        pipeline.record("test", "k", {"count": 1})
        pipeline.record("test", "k", {"count": 1})
        assert not api.flush()
    pipeline.stop_thread()


def test_the_status_page_shows_an_old_flush_in_red(client: Client, admin_user: User) -> None:
    pipeline.last_flush_at = time.time() - 3600
    client.force_login(admin_user)
    page = client.get(STATUS_URL)
    assert page.context["recorder"]["flush_stale"]
    assert 'class="perfkit-stale"' in page.content.decode()
