"""Issue #15, acceptance 1, on the real demo: a bad deploy is listed, alerted once, acknowledged.

The demo runs whole (supervisor, web server, Celery worker and beat, traffic
generator) on its own SQLite database, with a real local webhook server as a
second alert target. Release demo-1 serves traffic until the previous
release has enough requests of ``/books/fast/``; then ``demo_release demo-2
--slow`` records a new release and turns that page back into its N+1. The
detect task (every few seconds here, a minute in the demo) opens the
regression, the Regressions page lists it with before -> after, the worker's
console email backend prints one email per regression and the webhook gets one
POST each. Acknowledging on the page stops the reminders that an unacknowledged
regression gets.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import sqlite3
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from perfkit.models import Resolution, Rollup
from tests.demo_process import (
    SEED_SCALE,
    demo_env,
    fast_demo,
    free_port,
    manage,
    needs_proc,
    sqlite_pass_only,
)
from tests.regressions.receiver import Receiver
from tests.utils import wait_for

pytestmark = [needs_proc, sqlite_pass_only, pytest.mark.worker]

ENDPOINT = "GET books/fast/"
INTERVAL_SECONDS = 5  # the detect task's period (the demo's default is 60)
MIN_REQUESTS = 20  # on each side (the demo's default is 50)
REMIND_SECONDS = 30  # an unacknowledged regression is alerted again after this
REGRESSIONS = "/admin/perfkit_regressions/regression/"


@dataclass(frozen=True)
class Row:
    """One row of the Regressions page's Open table."""

    pk: int
    endpoint: str
    metric: str
    figures: str  # "2.0 → 151.0 queries/request (75.5x)"
    release: str
    baseline: str


class Admin:
    """An admin session over HTTP: the login form, then pages and CSRF-protected POSTs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            return str(response.read().decode())

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        data = urllib.parse.urlencode([("csrfmiddlewaretoken", token), *fields]).encode()
        request = urllib.request.Request(self.base_url + path, data=data)
        with self.opener.open(request, timeout=30) as response:
            return str(response.read().decode())

    def login(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        page = self.post(
            "/admin/login/?next=/admin/",
            [("username", username), ("password", password), ("next", "/admin/")],
        )
        assert "Log out" in page or "logout" in page, "the demo's admin login failed"

    def open_regressions(self) -> list[Row]:
        page = self.get(REGRESSIONS)
        section = page.split("<h2>Open</h2>", 1)[1].split("<h2>", 1)[0]
        rows = []
        for pk, body in re.findall(r'<tr data-regression="(\d+)">(.*?)</tr>', section, re.S):
            cells = [
                " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
                for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
            ]
            endpoint, metric, figures, _, release, baseline = cells[1:7]
            rows.append(Row(int(pk), endpoint, metric, figures, release, baseline))
        return rows


@pytest.fixture
def demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo ``var/`` of its own: this test records releases and sets the bad-deploy flag."""
    var_dir = tmp_path_factory.mktemp("demo-regressions-var")
    manage(var_dir, "migrate", "--noinput")
    manage(var_dir, "seed_demo", "--scale", SEED_SCALE, "--if-empty")
    return var_dir


@pytest.fixture
def hook() -> Iterator[Receiver]:
    """A real local webhook server, the demo's second alert target."""
    with Receiver() as receiver:
        yield receiver


@dataclass
class Demo:
    base_url: str
    var_dir: Path
    log: Path

    def emails(self) -> list[str]:
        """Subjects of the emails the worker's console backend printed."""
        text = re.sub(r"\r?\n[ \t]+", " ", self.log.read_text(errors="replace"))  # unfold
        return re.findall(r"^.*?Subject: (\[perfkit\] .*)$", text, re.M)

    def requests_before_this_minute(self) -> int:
        """Requests of ENDPOINT recorded in whole minutes before the current one."""
        minute = datetime.now(tz=UTC).replace(second=0, microsecond=0).replace(tzinfo=None)
        with sqlite3.connect(self.var_dir / "demo.sqlite3", timeout=20) as db:
            rows = db.execute(
                f"SELECT bucket, counters FROM {Rollup._meta.db_table} "
                "WHERE kind = 'endpoint' AND key = ? AND resolution = ?",
                (ENDPOINT, int(Resolution.MINUTE)),
            ).fetchall()
        return sum(
            int(json.loads(counters).get("count", 0))
            for bucket, counters in rows
            if datetime.fromisoformat(bucket).replace(tzinfo=None) < minute
        )


@pytest.fixture
def demo(demo_var: Path, hook: Receiver, tmp_path: Path) -> Iterator[Demo]:
    """The running demo as release demo-1, alerting by console email and webhook."""
    port = free_port()
    env = demo_env(demo_var)
    env.update(
        PERFKIT_RELEASE="demo-1",
        PERFKIT_DEMO_WEBHOOK_URL=hook.url,
        PERFKIT_DEMO_REGRESSIONS_INTERVAL=str(INTERVAL_SECONDS),
        PERFKIT_DEMO_REGRESSIONS_MIN_REQUESTS=str(MIN_REQUESTS),
        PERFKIT_DEMO_REMIND_HOURS=str(REMIND_SECONDS / 3600),
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as output, fast_demo(port, env, output):
        yield Demo(f"http://127.0.0.1:{port}", demo_var, log)


def metric_of(row: Row) -> str:
    """The metric's value in alerts ("p95", "queries") from its label on the page."""
    return row.metric.split()[0]


def about(body: dict[str, Any], row: Row) -> bool:
    """Whether a webhook body is about ``row``'s regression."""
    return body.get("endpoint") == ENDPOINT and body.get("metric") == metric_of(row)


def emailed_metric(subject: str) -> str:
    """The metric an email about ENDPOINT names ("" for another endpoint)."""
    found = re.search(rf"{re.escape(ENDPOINT)}:? (p95|queries) ", subject)
    return found.group(1) if found else ""


def slowly(check: Callable[[], bool]) -> Callable[[], bool]:
    """``check``, pausing a second after each miss (pages and the database are read)."""

    def polled() -> bool:
        if check():
            return True
        time.sleep(1)
        return False

    return polled


def test_a_bad_deploy_is_listed_alerted_once_and_acknowledged(demo: Demo, hook: Receiver) -> None:
    admin = Admin(demo.base_url)
    admin.login("admin", "admin")
    # Release demo-1's traffic: enough requests of /books/fast/ in whole minutes.
    enough = slowly(lambda: demo.requests_before_this_minute() >= MIN_REQUESTS + 5)
    assert wait_for(enough, 150), (
        f"{ENDPOINT} got {demo.requests_before_this_minute()} requests before this minute"
    )
    manage(demo.var_dir, "demo_release", "demo-2", "--slow", "--no-wait")
    deployed = time.monotonic()

    rows: list[Row] = []

    def listed() -> bool:
        nonlocal rows
        rows = [r for r in admin.open_regressions() if r.endpoint == ENDPOINT]
        return bool(rows)

    assert wait_for(slowly(listed), 90), f"no regression of {ENDPOINT} listed; log: {demo.log}"
    time.sleep(2 * INTERVAL_SECONDS)  # the other metric may open a run later
    listed()
    found_after = time.monotonic() - deployed
    queries = next(r for r in rows if r.metric == "queries per request")
    assert queries.release == "demo-2"
    assert queries.baseline == "release demo-1"
    before, after = (float(v) for v in re.findall(r"[\d.]+", queries.figures)[:2])
    assert before <= 3, queries.figures  # the fixed page: 2 queries
    # The N+1 runs 151; requests of the deploy's minute served before it count too.
    assert after >= 10 * before, queries.figures

    # Exactly one alert per regression on each target.
    def delivered() -> bool:
        posted = {metric_of(r) for r in rows if any(about(b, r) for b in hook.bodies)}
        mailed = {m for m in map(emailed_metric, demo.emails()) if m}
        return posted == mailed >= set(map(metric_of, rows))

    assert wait_for(slowly(delivered), 60), (hook.bodies, demo.emails())
    for row in rows:
        opened = [b for b in hook.bodies if about(b, row) and b["event"] == "opened"]
        assert len(opened) == 1, hook.bodies
        assert opened[0]["release"] == "demo-2"
        assert opened[0]["baseline_release"] == "demo-1"
    # Other endpoints may regress too (a busy one's first seconds of the new
    # release): only this endpoint's alerts are counted.
    opened_emails = [
        s
        for s in demo.emails()
        if s.startswith("[perfkit] Regression in release") and emailed_metric(s)
    ]
    assert sorted(map(emailed_metric, opened_emails)) == sorted(map(metric_of, rows))

    # Acknowledge the queries regression on the page; any other stays as the control.
    admin.post(f"{REGRESSIONS}acknowledge/", [("regression", str(queries.pk))])
    assert queries.pk not in [r.pk for r in admin.open_regressions()]
    acknowledged = time.monotonic()
    bodies, emails = len(hook.bodies), len(demo.emails())
    time.sleep(REMIND_SECONDS + 3 * INTERVAL_SECONDS)

    late = hook.bodies[bodies:]
    assert not [b for b in late if about(b, queries)], late
    late_emails = demo.emails()[emails:]
    assert "queries" not in map(emailed_metric, late_emails), late_emails
    for control in [r for r in rows if r.pk != queries.pk]:
        # Not acknowledged: reminded once REMIND_SECONDS passed, on both targets.
        assert [b for b in late if about(b, control) and b["event"] == "reminder-1"], late
        assert metric_of(control) in map(emailed_metric, late_emails), late_emails
    print(
        f"\n{[(r.metric, r.figures) for r in rows]} listed {found_after:.0f}s after the deploy; "
        f"{len(hook.bodies)} webhook POSTs, {len(demo.emails())} emails, "
        f"{time.monotonic() - acknowledged:.0f}s watched after acknowledging"
    )
