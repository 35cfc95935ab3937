from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from perfkit import api as core_api
from perfkit.recording import errors
from perfkit.regressions import api, releases
from perfkit.regressions.models import Release
from tests.regressions.history import ENDPOINT, write
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _forget_noted_release() -> Iterator[None]:
    releases._noted.reset()
    yield
    releases._noted.reset()


def minute_now() -> datetime:
    return datetime.now(tz=UTC).replace(second=0, microsecond=0)


def test_the_running_release_is_recorded_once_at_a_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFKIT_RELEASE", raising=False)
    assert core_api.flush()
    assert not Release.objects.exists()  # no RELEASE: nothing recorded
    with override_perfkit({"RELEASE": "2.4.0"}):
        assert core_api.flush()
        release = Release.objects.get()
        seen = release.last_seen
        assert core_api.flush()  # the second flush of the process does not write again
    assert release.name == "2.4.0"
    assert Release.objects.get().last_seen == seen


def test_the_release_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_RELEASE", "abc123")
    assert core_api.flush()
    assert list(Release.objects.values_list("name", flat=True)) == ["abc123"]


def test_a_failing_release_record_is_counted_never_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(releases, "record_release", broken)
    with override_perfkit({"RELEASE": "x"}):
        assert core_api.flush()  # the flush itself still succeeds
    assert errors.snapshot()["release recording"].count == 1


def test_the_command_records_a_release_at_a_given_time() -> None:
    out = StringIO()
    call_command("perfkit_release", "v7", "--at", "2026-01-02T03:04:05+00:00", stdout=out)
    release = Release.objects.get()
    assert release.started_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert "release v7 started at 2026-01-02T03:04:05+00:00" in out.getvalue()
    call_command("perfkit_release", "v7", stdout=StringIO())  # seen again: start unchanged
    assert Release.objects.get().started_at == release.started_at
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("perfkit_release", "v8", "--at", "yesterday")


def test_only_the_last_releases_are_kept() -> None:
    now = minute_now()
    with override_perfkit({"RELEASES_KEPT": 3}):
        for number in range(5):
            api.record_release(f"r{number}", at=now - (5 - number) * HOUR)
    assert list(Release.objects.values_list("name", flat=True)) == ["r4", "r3", "r2"]


def test_release_starts_within_a_window_for_chart_markers() -> None:
    now = minute_now()
    api.record_release("old", at=now - 30 * HOUR)
    api.record_release("a", at=now - 5 * HOUR)
    api.record_release("b", at=now - HOUR)
    assert api.releases_between(now - 24 * HOUR) == [("a", now - 5 * HOUR), ("b", now - HOUR)]
    assert api.releases_between(now - 24 * HOUR, now - 2 * HOUR) == [("a", now - 5 * HOUR)]


def test_this_release_against_the_previous_one() -> None:
    now = minute_now()
    assert api.compare(ENDPOINT, now) is None  # no releases yet
    api.record_release("1.0", at=now - 5 * HOUR)
    api.record_release("1.1", at=now - 2 * HOUR)
    write(now - 5 * HOUR, 180, per_minute=2, ms=40, queries=3, errors=36)
    write(now - 2 * HOUR, 120, per_minute=3, ms=80, queries=9, n_plus_one=True)
    comparison = api.compare(ENDPOINT, now)
    assert comparison is not None
    assert (comparison.release, comparison.previous) == ("1.1", "1.0")
    this, before = comparison.this, comparison.before
    assert (before.requests, this.requests) == (360, 360)
    assert (before.queries_per_request, this.queries_per_request) == (3.0, 9.0)
    assert (before.n_plus_one_share, this.n_plus_one_share) == (0.0, 1.0)
    assert (before.error_share, this.error_share) == (0.1, 0.0)
    assert before.p95_ms and this.p95_ms and 1.8 <= this.p95_ms / before.p95_ms <= 2.2
    assert before.p50_ms and 30 <= before.p50_ms <= 50  # requests at 32 and 48 ms


def test_a_release_comparison_reads_hour_rows_past_minute_retention() -> None:
    now = minute_now()
    api.record_release("1.0", at=now - 40 * HOUR)
    api.record_release("1.1", at=now - 3 * HOUR)
    write(now - 40 * HOUR, 60, per_minute=2, ms=40)
    write(now - 3 * HOUR, 60, per_minute=2, ms=40)
    comparison = api.compare(ENDPOINT, now)
    assert comparison is not None
    assert (comparison.before.requests, comparison.this.requests) == (120, 120)
