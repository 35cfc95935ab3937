from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perfkit.regressions import api
from perfkit.regressions.models import Alert, Regression
from tests.regressions.history import ENDPOINT, write
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def minute_now() -> datetime:
    """Now, on a minute boundary (history is written per minute)."""
    now = datetime.now(tz=UTC)
    return now.replace(second=0, microsecond=0)


def day_over_day(now: datetime, *, before_ms: float, after_ms: float, **kwargs: object) -> None:
    """The hour before ``now`` a day earlier at ``before_ms``, the last hour at ``after_ms``."""
    write(now - DAY - HOUR, 60, ms=before_ms, **kwargs)  # type: ignore[arg-type]
    write(now - HOUR, 60, ms=after_ms, **kwargs)  # type: ignore[arg-type]


def test_a_doubled_p95_opens_one_regression_with_before_and_after() -> None:
    now = minute_now()
    day_over_day(now, before_ms=50, after_ms=100)
    result = api.detect(now)
    (regression,) = Regression.objects.all()
    assert result.opened == [regression.pk]
    assert result.baseline.kind == "day"
    assert (regression.endpoint, regression.metric, regression.baseline) == (ENDPOINT, "p95", "day")
    # p95 of 300 requests spread 40-60 ms, then 80-120 ms (histogram buckets within 10%).
    assert 50 <= regression.before <= 66 and 100 <= regression.after <= 132
    assert 1.8 <= regression.after / regression.before <= 2.2
    assert (regression.requests_before, regression.requests_after) == (300, 300)
    assert list(Alert.objects.values_list("event", flat=True)) == ["opened"]


def test_a_second_run_opens_nothing_more() -> None:
    now = minute_now()
    day_over_day(now, before_ms=50, after_ms=100)
    api.detect(now)
    second = api.detect(now + timedelta(minutes=1))
    assert second.opened == [] and len(second.still_open) == 1
    assert Regression.objects.count() == 1 and Alert.objects.count() == 1


@pytest.mark.parametrize("after_ms", [45, 55])
def test_a_ten_percent_wobble_is_not_a_regression(after_ms: float) -> None:
    now = minute_now()
    day_over_day(now, before_ms=50, after_ms=after_ms)
    assert api.detect(now).opened == []
    assert not Regression.objects.exists()


def test_too_few_requests_are_not_a_regression() -> None:
    now = minute_now()
    write(now - DAY - HOUR, 60, ms=50)
    write(now - 10 * timedelta(minutes=1), 10, per_minute=4, ms=200)  # 40 requests < 50
    assert api.detect(now).opened == []
    with override_perfkit({"REGRESSIONS_MIN_REQUESTS": 40}):
        assert len(api.detect(now).opened) == 1


def test_a_small_absolute_change_is_not_a_regression() -> None:
    now = minute_now()
    day_over_day(now, before_ms=2, after_ms=5)  # 2.5x, but only a few ms
    assert api.detect(now).opened == []


def test_more_queries_per_request_open_a_queries_regression() -> None:
    now = minute_now()
    write(now - DAY - HOUR, 60, ms=50, queries=3)
    write(now - HOUR, 60, ms=50, queries=12)
    api.detect(now)
    (regression,) = Regression.objects.all()
    assert (regression.metric, regression.before, regression.after) == ("queries", 3.0, 12.0)


def test_a_regression_resolves_when_the_metric_returns_near_baseline() -> None:
    now = minute_now()
    earlier = now - 3 * HOUR
    day_over_day(earlier, before_ms=50, after_ms=100)
    api.detect(earlier)
    day_over_day(now, before_ms=50, after_ms=52)
    result = api.detect(now)
    (regression,) = Regression.objects.all()
    assert result.resolved == [regression.pk] and regression.resolved_at == now
    # Nobody was told it opened (no alert was sent yet): nothing to say about it resolving.
    assert list(Alert.objects.values_list("event", "cancelled")) == [("opened", True)]


def test_the_week_baseline_compares_with_a_week_earlier() -> None:
    now = minute_now()
    # Past minute retention a week back is read from hour rows: traffic all around it.
    write(now - 7 * DAY - 2 * HOUR, 180, ms=50)
    write(now - DAY - HOUR, 60, ms=100)  # a slow day yesterday: the week baseline ignores it
    write(now - HOUR, 60, ms=100)
    with override_perfkit({"REGRESSIONS_BASELINE": "week"}):
        result = api.detect(now)
    assert result.baseline.kind == "week" and len(result.opened) == 1
    assert Regression.objects.get().baseline == "week"


def test_with_releases_the_previous_release_is_the_baseline() -> None:
    now = minute_now()
    api.record_release("1.0", at=now - 6 * HOUR)
    api.record_release("1.1", at=now - 2 * HOUR)
    write(now - 6 * HOUR, 240, per_minute=2, ms=40)  # all of release 1.0
    write(now - 2 * HOUR, 120, per_minute=2, ms=90)  # release 1.1
    result = api.detect(now)
    assert result.baseline.kind == "release"
    assert result.baseline.recent_since == now - HOUR
    regression = Regression.objects.get()
    assert (regression.release, regression.baseline_release) == ("1.1", "1.0")
    assert regression.requests_before == 480 and regression.requests_after == 120
    assert 2.0 <= regression.after / regression.before <= 2.6


def test_a_regression_lasting_a_day_stays_open_against_its_own_baseline() -> None:
    now = minute_now()
    opened = now - DAY
    day_over_day(opened, before_ms=50, after_ms=100)
    api.detect(opened)
    # A day on, "the same window a day earlier" is the slow hour itself: still open.
    write(now - HOUR, 60, ms=100)
    result = api.detect(now)
    regression = Regression.objects.get()
    assert result.still_open == [regression.pk] and regression.resolved_at is None
    assert 50 <= regression.before <= 66  # the baseline it opened with


def test_a_new_release_does_not_resolve_a_regression_it_still_has() -> None:
    now = minute_now()
    api.record_release("1.0", at=now - 8 * HOUR)
    api.record_release("1.1", at=now - 4 * HOUR)
    write(now - 8 * HOUR, 240, per_minute=2, ms=40)
    write(now - 4 * HOUR, 240, per_minute=2, ms=100)
    api.detect(now - 2 * HOUR)
    api.record_release("1.2", at=now - 90 * timedelta(minutes=1))  # as slow as 1.1
    result = api.detect(now)
    regression = Regression.objects.get()
    assert result.baseline.baseline_release == "1.1"
    assert regression.resolved_at is None and regression.baseline_release == "1.0"
