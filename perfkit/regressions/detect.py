"""Finding regressions: each endpoint's recent window against a baseline.

The recent window is the last ``REGRESSIONS_WINDOW_MINUTES`` (never before
the running release started). The baseline is the previous release's whole
run when ``REGRESSIONS_BASELINE`` is "release" and there is one, else the
same window a day (or a week) earlier. Two metrics are tested: p95 from the
merged histograms, and queries per request. Both sides need
``REGRESSIONS_MIN_REQUESTS`` requests, and the change must pass a relative
and an absolute threshold, so noise does not open anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction

from perfkit.conf import perfkit_settings
from perfkit.regressions.figures import ENDPOINT_KIND, Figures
from perfkit.regressions.history import range_totals
from perfkit.regressions.models import Alert, Metric, Regression
from perfkit.regressions.releases import current_and_previous

# More keys than this are read without naming them (one IN list stays small).
MAX_NAMED_KEYS = 500


@dataclass(frozen=True)
class Baseline:
    """The two ranges compared, and what the baseline is."""

    kind: str  # "release", "day" or "week"
    since: datetime
    until: datetime
    recent_since: datetime
    release: str = ""
    baseline_release: str = ""


@dataclass
class DetectionResult:
    """What one detection run changed (ids of the regressions)."""

    baseline: Baseline
    endpoints: int = 0
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    still_open: list[int] = field(default_factory=list)
    alerts: int = 0


def baseline_for(now: datetime) -> Baseline:
    """The ranges a run at ``now`` compares, from the settings and the releases."""
    recent_since = now - timedelta(minutes=perfkit_settings.REGRESSIONS_WINDOW_MINUTES)
    current, previous = current_and_previous(now)
    release = current.name if current else ""
    if perfkit_settings.REGRESSIONS_BASELINE == "release" and current and previous:
        return Baseline(
            "release",
            previous.started_at,
            current.started_at,
            max(recent_since, current.started_at),
            release,
            previous.name,
        )
    kind = "week" if perfkit_settings.REGRESSIONS_BASELINE == "week" else "day"
    shift = timedelta(days=7 if kind == "week" else 1)
    return Baseline(kind, recent_since - shift, now - shift, recent_since, release)


def regressed(metric: str, before: float, after: float) -> bool:
    """Whether ``after`` is worse than ``before`` by both the relative and absolute thresholds."""
    floor = (
        perfkit_settings.REGRESSIONS_MIN_P95_MS
        if metric == Metric.P95
        else perfkit_settings.REGRESSIONS_MIN_QUERIES
    )
    ratio = 1 + perfkit_settings.REGRESSIONS_MIN_CHANGE
    return after >= before * ratio and after - before >= floor


def recovered(before: float, after: float) -> bool:
    """Whether ``after`` is back near ``before`` (within ``REGRESSIONS_RESOLVE_CHANGE``)."""
    return after <= before * (1 + perfkit_settings.REGRESSIONS_RESOLVE_CHANGE)


def detect(now: datetime | None = None) -> DetectionResult:
    """Open, update and resolve regressions; create the alerts they call for.

    An open regression is judged against the baseline figure it opened with,
    not the current baseline: a day on (or a release on), the baseline
    window holds the regression itself and would make it look resolved.
    """
    now = now or datetime.now(tz=UTC)
    base = baseline_for(now)
    recent = range_totals(ENDPOINT_KIND, base.recent_since, None, now=now)
    using = perfkit_settings.DATABASE_ALIAS
    open_ones = {
        (r.endpoint, r.metric): r for r in Regression.objects.using(using).filter(resolved_at=None)
    }
    minimum = perfkit_settings.REGRESSIONS_MIN_REQUESTS
    # Too little recent traffic is no evidence either way: nothing opens or resolves.
    busy = sorted(key for key, total in recent.items() if total.counters.get("count", 0) >= minimum)
    result = DetectionResult(base, endpoints=len(busy))
    if not busy:
        return result
    named = busy if len(busy) <= MAX_NAMED_KEYS else None
    before = range_totals(ENDPOINT_KIND, base.since, base.until, named, now=now)
    for endpoint in busy:
        after_figures = Figures.of(recent[endpoint])
        before_figures = Figures.of(before.get(endpoint))
        for metric in Metric.values:
            now_value = after_figures.value(metric)
            existing = open_ones.get((endpoint, metric))
            if now_value is None:
                continue
            if existing is not None:
                if recovered(existing.before, now_value):
                    _resolve(existing, after_figures, now_value, now, result)
                else:
                    _update(existing, after_figures, now_value, now, result)
                continue
            was = before_figures.value(metric)
            if was is None or before_figures.requests < minimum:
                continue
            if regressed(metric, was, now_value):
                _open(
                    endpoint,
                    metric,
                    base,
                    (before_figures, after_figures, was, now_value),
                    now,
                    result,
                )
    return result


Sides = tuple[Figures, Figures, float, float]


def _open(
    endpoint: str, metric: str, base: Baseline, sides: Sides, now: datetime, result: DetectionResult
) -> None:
    before_figures, after_figures, was, now_value = sides
    using = perfkit_settings.DATABASE_ALIAS
    try:
        with transaction.atomic(using=using):
            regression = Regression.objects.using(using).create(
                endpoint=endpoint,
                metric=metric,
                before=was,
                after=now_value,
                requests_before=before_figures.requests,
                requests_after=after_figures.requests,
                baseline=base.kind,
                baseline_release=base.baseline_release,
                release=base.release,
                opened_at=now,
                last_seen=now,
            )
            Alert.objects.using(using).create(regression=regression, event="opened", created_at=now)
    except IntegrityError:
        return  # another run opened it at the same time
    result.opened.append(regression.pk)
    result.alerts += 1


def _resolve(
    regression: Regression,
    after_figures: Figures,
    now_value: float,
    now: datetime,
    result: DetectionResult,
) -> None:
    using = perfkit_settings.DATABASE_ALIAS
    with transaction.atomic(using=using):
        changed = (
            Regression.objects.using(using)
            .filter(pk=regression.pk, resolved_at=None)
            .update(
                resolved_at=now,
                last_seen=now,
                after=now_value,
                requests_after=after_figures.requests,
            )
        )
        if not changed:
            return
        alerts = Alert.objects.using(using).filter(regression=regression)
        # Nobody was told it opened (rate limited, no worker yet): say nothing now either.
        alerts.filter(sent_at=None, cancelled=False).update(cancelled=True)
        if alerts.filter(sent_at__isnull=False, cancelled=False).exists():
            _, created = Alert.objects.using(using).get_or_create(
                regression=regression, event="resolved", defaults={"created_at": now}
            )
            result.alerts += int(created)
    result.resolved.append(regression.pk)


def _update(
    regression: Regression,
    after_figures: Figures,
    now_value: float,
    now: datetime,
    result: DetectionResult,
) -> None:
    using = perfkit_settings.DATABASE_ALIAS
    Regression.objects.using(using).filter(pk=regression.pk).update(
        last_seen=now, after=now_value, requests_after=after_figures.requests
    )
    result.still_open.append(regression.pk)
    hours = perfkit_settings.REGRESSIONS_REMIND_HOURS
    if hours is None or regression.acknowledged_at is not None:
        return
    alerts = Alert.objects.using(using).filter(regression=regression)
    last = alerts.order_by("-created_at").values_list("created_at", flat=True).first()
    if last is not None and now - last < timedelta(hours=hours):
        return
    number = alerts.filter(event__startswith="reminder").count() + 1
    _, created = Alert.objects.using(using).get_or_create(
        regression=regression, event=f"reminder-{number}", defaults={"created_at": now}
    )
    result.alerts += int(created)


def acknowledge(ids: list[int], user: str, now: datetime | None = None) -> int:
    """Acknowledge open regressions: no reminders, and unsent alerts about them are dropped."""
    now = now or datetime.now(tz=UTC)
    using = perfkit_settings.DATABASE_ALIAS
    with transaction.atomic(using=using):
        done = (
            Regression.objects.using(using)
            .filter(pk__in=ids, acknowledged_at=None)
            .update(acknowledged_by=user[:150], acknowledged_at=now)
        )
        Alert.objects.using(using).filter(
            regression_id__in=ids, sent_at=None, cancelled=False
        ).exclude(event="resolved").update(cancelled=True)
    return done
