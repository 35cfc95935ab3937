"""A slow sample's page in a real browser: its query waterfall, and EXPLAIN on demand
(issue #15, acceptance 3 and 4).

The sample is recorded through PerfMiddleware: ``/n-plus-one/`` reads 20 books,
each of which follows its own author (1 + 20 statements). Screenshots go to
artifacts/screenshots/: waterfall_1280.png, waterfall_1920.png, explain_plan_1280.png,
explain_analyze_1280.png and sample_without_explain_1280.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from perfkit import api
from perfkit.metrics import waterfall
from perfkit.metrics.models import SlowRequest
from tests.browser.driver import PASSWORD, Browser
from tests.browser.layout import WIDTHS, console_entries, layout_problems, window_width
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.browser

BOOKS = 20
RECORD_ALL = {"RECORDER_FLUSH_INTERVAL": 0, "METRICS_SLOW_MS": 0.001}
# A node PostgreSQL reads testapp_author with: the pk index, or a scan of the small table.
PG_AUTHOR_SCAN = re.compile(
    r"(Index Scan|Index Only Scan|Seq Scan|Bitmap Heap Scan)\b.* on testapp_author"
)

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="EXPLAIN's PostgreSQL plan (and EXPLAIN ANALYZE) need the PG+Redis pass: "
    "PERFKIT_TEST_DATABASE_URL=postgres://... (SQLite has no ANALYZE; its plan is tested in "
    "tests/metrics/test_sample_page.py)",
)

# Each rect of the waterfall: its fill, where the SVG puts it, and where the page shows it.
RECTS_JS = """
var svg = document.querySelector('svg.perfkit-waterfall');
return Array.from(svg.querySelectorAll('rect')).map(function (r) {
  var box = r.getBoundingClientRect();
  var title = r.querySelector('title');
  return {fill: r.getAttribute('fill'), y: r.getAttribute('y'),
          left: box.left, right: box.right, width: box.width, height: box.height,
          title: title ? title.textContent : ''};
});
"""


def record_n_plus_one(**perfkit: Any) -> SlowRequest:
    """20 books by 20 authors read through ``/n-plus-one/`` in a real request."""
    authors = Author.objects.bulk_create(Author(name=f"author {i}") for i in range(BOOKS))
    Book.objects.bulk_create(Book(title=f"book {i}", author=a) for i, a in enumerate(authors))
    with override_perfkit({**RECORD_ALL, **perfkit}):
        assert Client().get("/n-plus-one/").status_code == 200
    assert api.flush()
    return SlowRequest.objects.get(path="/n-plus-one/")


@pytest.fixture
def sample(transactional_db: None) -> SlowRequest:
    return record_n_plus_one()


@pytest.fixture
def at_1280(browser: Browser) -> Iterator[Browser]:
    """The browser at 1280 px, the narrowest width the pages are laid out for."""
    with window_width(browser, 1280):
        yield browser


def sample_url(sample: SlowRequest) -> str:
    return reverse("admin:perfkit_metrics_slowrequest_change", args=[sample.pk])


def author_row(browser: Browser, table: str) -> WebElement:
    """The row of ``table`` holding the N+1's statement (the one on testapp_author)."""
    rows = [row for row in browser.find_all(f"{table} tbody tr") if "testapp_author" in row.text]
    assert len(rows) == 1, [row.text[:80] for row in browser.find_all(f"{table} tbody tr")]
    return rows[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_waterfall_shows_the_n_plus_one(
    browser: Browser, admin: User, sample: SlowRequest, width: int
) -> None:
    with window_width(browser, width):
        browser.login(admin.username, PASSWORD, next_path=sample_url(sample))
        assert browser.path == sample_url(sample)
        console_entries(browser)  # the login page's own messages
        chart = browser.find("svg.perfkit-waterfall")
        assert chart.is_displayed()
        browser.screenshot(f"waterfall_{width}")
        box = chart.rect
        assert box["width"] > 600 and box["height"] > 60, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)

        rects = browser.driver.execute_script(RECTS_JS)
        (request_bar,) = [r for r in rects if r["title"].startswith("request:")]
        assert request_bar["width"] > 0.5 * box["width"], request_bar
        on_bar = [r for r in rects if r["y"] == request_bar["y"] and r is not request_bar]
        lanes: dict[str, list[dict[str, Any]]] = {}
        for rect in rects:
            if rect["y"] != request_bar["y"]:
                lanes.setdefault(rect["y"], []).append(rect)
        red = waterfall.N_PLUS_ONE_COLOR
        n_plus_one = [lane for lane in lanes.values() if all(r["fill"] == red for r in lane)]
        assert len(n_plus_one) == 1, {y: [r["fill"] for r in lane] for y, lane in lanes.items()}
        (lane,) = n_plus_one
        assert len(lane) == BOOKS and red == "#ba2121"
        assert all("testapp_author" in r["title"] for r in lane)
        assert len([r for r in on_bar if r["fill"] == red]) == BOOKS  # also on the request bar
        assert len(lanes) == 2  # the books' statement, then the authors' N+1
        # Nothing drawn outside the chart, and each statement visible (1 px at least).
        for rect in rects:
            assert rect["width"] > 0 and rect["height"] > 0, rect
            assert box["x"] - 1 <= rect["left"] and rect["right"] <= box["x"] + box["width"] + 1
        starts = [r["left"] for r in lane]
        assert starts == sorted(starts) and starts[-1] > starts[0]  # one after another
        labels = [t.text for t in chart.find_elements(By.TAG_NAME, "text")]
        assert "request" in labels and "#2" in labels, labels
        assert "outside the database" in " ".join(labels)

        # The waterfall draws the timeline: the page does not print it as JSON too.
        assert '"spans"' not in browser.text("#content-main")

        problems = layout_problems(browser)
        assert not problems, f"at {width} px: {problems}"


@needs_postgresql
def test_explain_shows_the_postgresql_plan(
    at_1280: Browser, admin: User, sample: SlowRequest
) -> None:
    browser = at_1280
    browser.login(admin.username, PASSWORD, next_path=sample_url(sample))
    row = author_row(browser, "#perfkit-sample-statements")
    assert row.find_element(By.CSS_SELECTOR, "td").text.startswith(str(BOOKS))
    browser.click_to_load(row.find_element(By.LINK_TEXT, "EXPLAIN…"))
    assert "/explain/repeated/" in browser.path
    assert "parameters were not stored" in browser.text("#content-main")
    assert not browser.find_all("input[name=confirm]")  # nothing to run ANALYZE with
    browser.click_to_load(browser.find('button[name="analyze"][value="0"]'))
    plan = browser.text("#perfkit-plan")
    browser.screenshot("explain_plan_1280")
    assert PG_AUTHOR_SCAN.search(plan), plan
    assert "cost=" in plan and "actual time" not in plan
    assert "generic plan" in browser.text("#content-main h2")
    assert not browser.find_all("#perfkit-explain-refused")
    assert not layout_problems(browser)  # the console's errors included


@needs_postgresql
def test_explain_analyze_with_stored_parameters(at_1280: Browser, admin: User) -> None:
    browser = at_1280
    sample = record_n_plus_one(METRICS_CAPTURE_PARAMS=True)
    browser.login(admin.username, PASSWORD, next_path=sample_url(sample))
    row = author_row(browser, "#perfkit-sample-statements")
    browser.click_to_load(row.find_element(By.LINK_TEXT, "EXPLAIN…"))
    assert "with the parameters stored with the sample" in browser.text("#content-main")
    # Unconfirmed, ANALYZE is refused.
    browser.click_to_load(browser.find('button[name="analyze"][value="1"]'))
    assert "tick the box" in browser.text("#perfkit-explain-refused")
    assert not browser.find_all("#perfkit-plan")
    console_entries(browser)  # the refusal's 400 is logged, as meant
    browser.find("input[name=confirm]").click()
    browser.click_to_load(browser.find('button[name="analyze"][value="1"]'))
    plan = browser.text("#perfkit-plan")
    browser.screenshot("explain_analyze_1280")
    assert "actual time" in plan, plan
    assert PG_AUTHOR_SCAN.search(plan) and "Execution Time" in plan, plan
    assert browser.text("#content-main h2").startswith("EXPLAIN ANALYZE")
    assert not browser.find_all("#perfkit-explain-refused")
    assert not layout_problems(browser)  # the console's errors included
    assert Author.objects.count() == BOOKS  # ANALYZE ran the SELECT and changed nothing


def test_staff_without_the_explain_permission_get_no_explain(
    at_1280: Browser, django_user_model: type[User], sample: SlowRequest
) -> None:
    browser = at_1280
    viewer = django_user_model.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_slowrequest"))
    browser.login("viewer", PASSWORD, next_path=sample_url(sample))
    assert browser.path == sample_url(sample)
    browser.screenshot("sample_without_explain_1280")
    assert author_row(browser, "#perfkit-sample-statements")  # the statements are shown
    assert browser.find_all("svg.perfkit-waterfall")
    assert not browser.find_all('a[href*="/explain/"]')
    assert "EXPLAIN" not in browser.text("#content-main")
    assert not browser.console_errors()
    for part, index in (("repeated", 0), ("timeline", 1)):
        url = reverse("admin:perfkit_metrics_slowrequest_explain", args=[sample.pk, part, index])
        browser.open(url)
        assert "403 Forbidden" in browser.text("body"), url
        assert any("403 (Forbidden)" in m for m in browser.console_errors()), url
