"""Every perfkit admin page at 1280 and 1920 px, with the longest keys real sites have.

Endpoint patterns of 250 characters, a task name with nowhere to break, a
2,000-character statement, a path with a long query string and long release
names: each page is opened in Chromium at the width, a full-page screenshot is
saved into ``PERFKIT_SCREENSHOT_DIR`` (default: a folder under the test's tmp
dir; the run prints it), and the DOM is asked whether anything went off screen
(see :mod:`tests.browser.layout`: sideways scrolling, a cell past the window or
its scroll container, content cut off). The slow sample's page draws its
query waterfall and both statement tables; the EXPLAIN page is checked with
its plan shown.

The console must stay free of errors, the page's icon included (no
``/favicon.ico`` 404). ``health/`` and ``metrics/`` answer JSON and text, so
they are not pages to lay out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.http import urlencode
from selenium.webdriver.common.by import By

from perfkit.cache.stats import KIND as CACHE_KIND
from perfkit.exports.models import ExportJob, ReportRun
from perfkit.metrics.models import SlowRequest
from perfkit.metrics.run import ENDPOINT_KIND
from perfkit.operations.dbinsights import N_PLUS_ONE_KIND, n_plus_one_key
from perfkit.recording import clean, store
from perfkit.recording.buffer import Aggregate, Batch
from perfkit.regressions.models import Metric, Regression, Release
from tests.browser.driver import PASSWORD, Browser
from tests.browser.layout import WIDTHS, console_entries, layout_problems, window_width

pytestmark = pytest.mark.browser

# Route patterns as big sites have them, and a name with no place to break.
LONG_ROUTE = (
    "GET api/v2/organisations/<slug:organisation>/projects/<slug:project>/"
    "environments/<slug:environment>/deployments/<uuid:deployment>/artifacts/"
    "<path:artifact>/revisions/<int:revision>/annotations/<int:annotation>/"
)
UNBROKEN = "task shop.tasks." + "recalculate_every_customer_lifetime_value_" * 5 + "now"
LONG_SQL = (
    'SELECT "shop_order"."id", '
    + ", ".join(f'"shop_order"."column_number_{i}"' for i in range(60))
    + ' FROM "shop_order" INNER JOIN "shop_customer" ON ("shop_order"."customer_id" = '
    '"shop_customer"."id") WHERE ("shop_order"."customer_id" = %s AND '
    '"shop_order"."status" IN (%s, %s, %s)) ORDER BY "shop_order"."created_at" DESC'
)
LONG_SITE = (
    "src/company/platform/services/billing/reporting/quarterly/"
    "aggregations/customer_lifetime_value_recalculation_service.py:412"
)
# A statement that can be explained (shorter than METRICS_SAMPLE_SQL_CHARS, a real table).
EXPLAINABLE_SQL = (
    'SELECT "testapp_book"."id", "testapp_book"."title", "testapp_book"."pages", '
    '"testapp_author"."name" FROM "testapp_book" INNER JOIN "testapp_author" ON '
    '("testapp_book"."author_id" = "testapp_author"."id") WHERE "testapp_book"."pages" > %s '
    'ORDER BY "testapp_book"."title" ASC'
)
LONG_RELEASE = "2026.12.02-build.48213+" + "6f1c2a9e" * 5 + "-hotfix-checkout-rounding"
LONG_LABEL = "shop_customer_lifetime_value_by_region_and_quarter_" * 3 + "summary"


@pytest.fixture(scope="session")
def screenshot_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where the layout screenshots go: ``PERFKIT_SCREENSHOT_DIR`` or a tmp folder."""
    chosen = os.environ.get("PERFKIT_SCREENSHOT_DIR")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("layout-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"layout screenshots: {directory}")
    return directory


def _aggregate(label: str, requests: int, errors: int, n1: int, slow_ms: float) -> Aggregate:
    aggregate = Aggregate(label=label)
    for i in range(requests):
        ms = slow_ms * (1 + i % 7) / 4 if i % 10 else slow_ms * 12
        aggregate.add(
            {"count": 1, "errors": int(i < errors), "queries": 8, "n1": int(i < n1), "s2xx": 1},
            {"dur_us": int(ms * 1000), "queries": 40},
            ms * 1000,
        )
    return aggregate


@pytest.fixture
def long_keys(transactional_db: None) -> SlowRequest:
    """Rollups and a slow sample with the longest keys; the sample is returned.

    Half an hour ago and this minute, so the sparklines have two busy minutes
    and the rest of the window empty. 1 error in 300 requests: 0.3%.
    """
    now = int(time.time()) // 60 * 60
    batch: Batch = {}
    for minute in (now - 1800, now):
        for shown, requests, errors, n1, slow_ms in (
            (LONG_ROUTE, 150, minute == now, 20, 40.0),
            (UNBROKEN, 30, 0, 0, 900.0),
            ("GET shop/", 50, 0, 0, 3.0),
        ):
            key, label = clean.rollup_key(shown)
            batch[ENDPOINT_KIND, key, minute] = _aggregate(label, requests, errors, n1, slow_ms)
        for shown, hits, misses in ((LONG_LABEL, 40, 9), ("shop_product", 5, 0)):
            key, label = clean.rollup_key(shown)
            cache = Aggregate(label=label)
            cache.add({"hits": hits, "misses": misses, "stores": misses, "invalidations": 2})
            batch[CACHE_KIND, key, minute] = cache
        key, label = clean.rollup_key(n_plus_one_key(LONG_SITE, LONG_SQL))
        fingerprint = Aggregate(label=label)
        fingerprint.add({"runs": 3, "queries": 36})
        batch[N_PLUS_ONE_KIND, key, minute] = fingerprint
    store.write_batch(batch, "default")
    when = datetime.fromtimestamp(now, tz=UTC)
    return SlowRequest.objects.create(
        endpoint=LONG_ROUTE,
        method="GET",
        path="/api/v2/organisations/acme/projects/website/environments/production/"
        "deployments/6f1c2a/artifacts/?" + "&".join(f"filter_{i}=value_{i}" for i in range(40)),
        user_id="42",
        status=200,
        duration_ms=1234.5,
        db_ms=987.6,
        queries=120,
        duplicates=11,
        n_plus_one=True,
        repeated=[
            {
                "count": 12,
                "duplicates": 11,
                "n_plus_one": True,
                "sql": LONG_SQL,
                "site": {
                    "file": LONG_SITE.split(":", maxsplit=1)[0],
                    "line": 412,
                    "function": "recalc",
                },
                "fix": 'Order.objects.select_related("customer").prefetch_related('
                '"customer__lifetime_value_by_region_and_quarter_summaries")',
                "fix_note": "the loop follows Order.customer, then its summaries",
            },
            {"count": 3, "duplicates": 0, "ms": 4.5, "sql": EXPLAINABLE_SQL, "site": None},
        ],
        timeline=long_timeline(),
        cache={"hits": 3, "misses": 1},
        hour=when.replace(minute=0),
        created_at=when - timedelta(seconds=5),
    )


# What a page must show for its layout check to mean something.
SHOWN = {
    "slow_request": (
        "svg.perfkit-waterfall",
        "#perfkit-sample-shapes",
        "#perfkit-sample-statements",
        '#perfkit-sample-statements a[href*="/explain/repeated/1/"]',
    ),
    "explain": ("#perfkit-plan",),
    "regressions": ("tr[data-regression]", "#perfkit-releases"),
}


def long_timeline() -> dict[str, object]:
    """A waterfall: the explainable statement, the long one as an N+1 of 12, and more
    shapes than have lanes ("other"), with statements past the stored ones."""
    spans: list[list[float | int]] = [[1.5, 3.2, 0]]
    spans += [[20.0 + 75 * i, 61.5, 1] for i in range(12)]
    spans += [[940.0 + 9 * i, 4.0, -1] for i in range(8)]
    return {
        "statements": [
            {"sql": EXPLAINABLE_SQL, "alias": "default", "count": 1},
            {"sql": LONG_SQL, "alias": "default", "count": 12},
        ],
        "spans": spans,
        "not_shown": 37,
    }


@pytest.fixture
def regressions(transactional_db: None) -> Regression:
    """Open, acknowledged and resolved regressions of the long route, long release names;
    the open one is returned."""
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    for i, name in enumerate((LONG_RELEASE, "1.0")):
        at = now - timedelta(hours=2 + 4 * i)
        Release.objects.create(name=name, started_at=at, first_seen=at, last_seen=now)
    common = {
        "endpoint": LONG_ROUTE,
        "requests_before": 48213,
        "requests_after": 9120,
        "baseline": "release",
        "baseline_release": "1.0",
        "release": LONG_RELEASE,
        "last_seen": now,
    }
    opened = Regression.objects.create(
        metric=Metric.P95, before=47.0, after=1108.4, opened_at=now - timedelta(hours=1), **common
    )
    Regression.objects.create(
        metric=Metric.QUERIES,
        before=3.0,
        after=123.5,
        opened_at=now - timedelta(hours=1),
        acknowledged_by="boss",
        acknowledged_at=now,
        **common,
    )
    Regression.objects.create(
        **{**common, "endpoint": UNBROKEN},
        metric=Metric.P95,
        before=900.0,
        after=2100.0,
        opened_at=now - timedelta(days=2),
        resolved_at=now - timedelta(days=1),
    )
    return opened


def pages(
    sample: SlowRequest, job: ExportJob, run: ReportRun, regression: Regression
) -> list[tuple[str, str, str]]:
    """Every perfkit admin page, as (screenshot name, URL, the button to press there
    first or "")."""
    endpoints = reverse("admin:perfkit_metrics_endpointstats_changelist")
    detail = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    explain = reverse("admin:perfkit_metrics_slowrequest_explain", args=[sample.pk, "repeated", 1])
    show_plan = 'button[name="analyze"][value="0"]'
    return [
        ("slow_endpoints", endpoints + "?window=1h", ""),
        ("endpoint_detail", detail + "?" + urlencode({"key": LONG_ROUTE, "window": "1h"}), ""),
        ("slow_requests", reverse("admin:perfkit_metrics_slowrequest_changelist"), ""),
        (
            "slow_request",
            reverse("admin:perfkit_metrics_slowrequest_change", args=[sample.pk]),
            "",
        ),
        ("explain", explain, show_plan),
        ("database", reverse("admin:perfkit_databaseinsights_changelist"), ""),
        (
            "cache_hit_rates",
            reverse("admin:perfkit_cache_cachestats_changelist") + "?window=1h",
            "",
        ),
        ("status", reverse("admin:perfkit_perfkitstatus_changelist"), ""),
        ("export_jobs", reverse("admin:perfkit_exports_exportjob_changelist"), ""),
        ("export_job", reverse("admin:perfkit_exports_exportjob_change", args=[job.pk]), ""),
        ("report_runs", reverse("admin:perfkit_exports_reportrun_changelist"), ""),
        ("report_run", reverse("admin:perfkit_exports_reportrun_change", args=[run.pk]), ""),
        ("regressions", reverse("admin:perfkit_regressions_regression_changelist"), ""),
        (
            "regression",
            reverse("admin:perfkit_regressions_regression_change", args=[regression.pk]),
            "",
        ),
    ]


@pytest.fixture
def sized(browser: Browser, request: pytest.FixtureRequest) -> Iterator[int]:
    """The browser's layout viewport set to the test's width (innerWidth exactly)."""
    with window_width(browser, request.param) as width:
        yield width


def row_of(browser: Browser, table: str, starts: str) -> list[str]:
    for row in browser.find_all(f"{table} tbody tr"):
        texts = [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
        if texts and texts[0].startswith(starts):
            return texts
    raise AssertionError(f"no row of {table} starts with {starts[:40]!r}")


@pytest.mark.parametrize("sized", WIDTHS, indirect=True)
def test_every_page_fits_the_window(
    browser: Browser,
    sized: int,
    admin: User,
    long_keys: SlowRequest,
    export_job: ExportJob,
    report_runs: list[ReportRun],
    regressions: Regression,
    screenshot_dir: Path,
) -> None:
    browser.login(admin.username, PASSWORD, next_path="/admin/")
    assert browser.driver.execute_script("return window.innerWidth") == sized
    console_entries(browser)  # the login page's own messages
    found: dict[str, list[str]] = {}
    for name, url, button in pages(long_keys, export_job, report_runs[0], regressions):
        browser.open(url)
        if button:
            browser.click_to_load(browser.find(button))
        assert browser.path == url, f"{name}: landed on {browser.path}"
        browser.screenshot(f"{name}_{sized}", screenshot_dir)
        problems = layout_problems(browser)
        problems += [
            f"nothing matches {css}" for css in SHOWN.get(name, ()) if not browser.find_all(css)
        ]
        if problems:
            found[name] = problems
    assert not found, f"at {sized} px (screenshots in {screenshot_dir}): {found}"


@pytest.mark.parametrize("sized", [1280], indirect=True)
def test_figures_read_at_a_glance(
    browser: Browser,
    sized: int,
    admin: User,
    long_keys: SlowRequest,
    export_job: ExportJob,
    report_runs: list[ReportRun],
) -> None:
    """Error rates tell 0 from 0.3%, ratios run 0-100 %, sizes are in bytes/KB, every
    bucket of the histogram and every minute of a sparkline has its place."""
    browser.login(admin.username, PASSWORD, next_path="/admin/")
    browser.open(reverse("admin:perfkit_metrics_endpointstats_changelist") + "?window=1h")
    headings = [th.text.split(" ")[0] for th in browser.find_all("#perfkit-endpoints thead th")]
    errors = headings.index(next(h for h in headings if h.lower().startswith("error")))
    assert row_of(browser, "#perfkit-endpoints", LONG_ROUTE)[errors] == "0.3%"
    assert row_of(browser, "#perfkit-endpoints", "GET shop/")[errors] == "0%"
    for spark in browser.find_all("#perfkit-endpoints svg.perfkit-spark"):
        width = spark.rect["width"]
        trace = spark.find_element(By.CSS_SELECTOR, "polyline.trace")
        assert trace.rect["width"] > 0.9 * width, "a sparkline spans its window"

    detail = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    browser.open(detail + "?" + urlencode({"key": LONG_ROUTE, "window": "1h"}))
    (chart,) = browser.find_all("svg.perfkit-histogram")
    labels = [t.text for t in chart.find_elements(By.TAG_NAME, "text")]
    assert "requests" in labels and "10 ms" in labels and "100 ms" in labels, labels
    bars = chart.find_elements(By.CSS_SELECTOR, "rect")
    assert len(bars) == len({round(float(b.get_attribute("x") or 0)) for b in bars}) > 3

    browser.open(reverse("admin:perfkit_cache_cachestats_changelist") + "?window=1h")
    chart = browser.find("svg.perfkit-chart")
    axis = [t.text for t in chart.find_elements(By.TAG_NAME, "text") if t.text.endswith("%")]
    assert axis[0] == "0 %" and axis[-1] == "100 %", axis

    for url in (
        reverse("admin:perfkit_exports_exportjob_changelist"),
        reverse("admin:perfkit_exports_reportrun_changelist"),
    ):
        browser.open(url)
        sizes = [td.text for td in browser.find_all("#result_list td.field-file_size")]
        assert sizes and all(s.endswith((" bytes", " KB", " MB")) for s in sizes), sizes
