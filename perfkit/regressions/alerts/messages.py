"""The text of an alert, as an email, a JSON document or a Slack-compatible body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from perfkit.conf import perfkit_settings
from perfkit.regressions.models import Alert, Metric, Regression


@dataclass(frozen=True)
class Message:
    """One alert about one regression."""

    event: str
    subject: str
    text: str
    fields: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "text": self.text, **self.fields}

    def as_slack(self) -> dict[str, Any]:
        return {"text": self.text}


def _figure(metric: str, value: float) -> str:
    return f"{value:.0f} ms" if metric == Metric.P95 else f"{value:.1f} queries/request"


def describe(regression: Regression) -> str:
    """``GET shop/books/: p95 120 ms -> 260 ms (2.2x) vs previous release 1.4``."""
    metric = regression.metric
    change = f" ({regression.ratio:.1f}x)" if regression.ratio else ""
    against = {
        "release": f"release {regression.baseline_release or '?'}",
        "day": "a day earlier",
        "week": "a week earlier",
    }.get(regression.baseline, regression.baseline)
    name = "p95" if metric == Metric.P95 else "queries"
    return (
        f"{regression.endpoint}: {name} {_figure(metric, regression.before)} -> "
        f"{_figure(metric, regression.after)}{change} vs {against}"
    )


def admin_url() -> str:
    base = perfkit_settings.REGRESSIONS_BASE_URL.rstrip("/")
    if not base:
        return ""
    try:
        return base + reverse("admin:perfkit_regressions_regression_changelist")
    except NoReverseMatch:
        return ""


def build(alert: Alert) -> Message:
    """The message for ``alert``."""
    regression = alert.regression
    if alert.event == "resolved":
        summary = (
            f"Resolved: {regression.endpoint} {regression.metric} is back near its baseline "
            f"({_figure(regression.metric, regression.after)})"
        )
    else:
        headline = "Regression" if alert.event == "opened" else "Still regressed"
        release = f" in release {regression.release}" if regression.release else ""
        summary = f"{headline}{release}: {describe(regression)}"
    url = admin_url()
    text = f"[perfkit] {summary}"
    if url:
        url = f"{url}?{urlencode({'q': regression.endpoint})}"
        text += f"\n{url}"
    fields = {
        "endpoint": regression.endpoint,
        "metric": regression.metric,
        "before": regression.before,
        "after": regression.after,
        "baseline": regression.baseline,
        "baseline_release": regression.baseline_release,
        "release": regression.release,
        "opened_at": regression.opened_at.isoformat(),
        "resolved_at": regression.resolved_at.isoformat() if regression.resolved_at else None,
        "acknowledged_by": regression.acknowledged_by,
        "url": url,
    }
    return Message(alert.event, f"[perfkit] {summary}", text, fields)
