"""The demo's own traffic fills Cache hit rates: its cached pages hit more than they miss.

The real demo runs (supervisor, web server, worker, beat and traffic generator)
on a temporary SQLite database and file cache; only the traffic's pace is raised
(more threads, no pause), so the two minutes of the acceptance run in CI.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from tests.browser.driver import Browser
from tests.demo_process import (
    demo_env,
    fast_demo,
    free_port,
    needs_proc,
    seeded_demo_var,
    sqlite_pass_only,
)
from tests.utils import wait_for

__all__ = ["seeded_demo_var"]  # the fixture, imported for the tests below

pytestmark = [pytest.mark.browser, pytest.mark.worker, needs_proc, sqlite_pass_only]

# demo_project/shop/catalogue.py's labels (its models are not importable under tests.settings).
CACHED_LABELS = ("catalogue: books", "catalogue: categories", "catalogue: counts")
ORDERS_LABEL = "shop_order"  # the cached "latest orders", written by every order placed
TRAFFIC_SECONDS = 120.0  # the acceptance's two minutes, as an upper bound
MIN_LOOKUPS = 30  # per catalogue label before the figures are judged
HIT_RATES = "/admin/perfkit_cache/cachestats/?window=1h"

ROWS_JS = """
var table = document.getElementById('perfkit-cache-labels');
if (!table) { return []; }
var heads = Array.from(table.tHead.rows[0].cells).map(function (c) {
  return c.textContent.trim();
});
return Array.from(table.tBodies[0].rows).map(function (row) {
  var found = {};
  Array.from(row.cells).forEach(function (cell, i) { found[heads[i]] = cell.textContent.trim(); });
  var hint = row.cells[0].querySelector('small');
  found.hint = hint ? hint.textContent.trim() : '';
  found.Label = row.cells[0].firstChild.textContent.trim();
  return found;
});
"""


@pytest.fixture
def demo(seeded_demo_var: Path) -> Iterator[str]:
    """The running demo with fast traffic; its base URL."""
    port = free_port()
    with fast_demo(port, demo_env(seeded_demo_var)):
        yield f"http://127.0.0.1:{port}"


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text) or 0)


def label_rows(browser: Browser) -> dict[str, dict[str, str]]:
    """Cache hit rates' table, one dict of column texts per label."""
    browser.open(HIT_RATES)
    return {row["Label"]: row for row in browser.driver.execute_script(ROWS_JS)}


def test_demo_traffic_makes_the_cached_pages_hit(demo: str, chrome: webdriver.Chrome) -> None:
    browser = Browser(chrome, demo)
    browser.reset()
    browser.login("admin", "admin", HIT_RATES)
    rows: dict[str, dict[str, str]] = {}

    def enough_traffic() -> bool:
        nonlocal rows
        rows = label_rows(browser)
        lookups = [
            number(rows[label]["Hits"]) + number(rows[label]["Misses"])
            for label in CACHED_LABELS
            if label in rows
        ]
        hinted = bool(rows.get(ORDERS_LABEL, {}).get("hint"))
        if len(lookups) == len(CACHED_LABELS) and min(lookups) >= MIN_LOOKUPS and hinted:
            return True
        time.sleep(2)  # the web server flushes its counts every second
        return False

    waited = wait_for(enough_traffic, TRAFFIC_SECONDS)
    shot = browser.screenshot("demo-cache-hit-rates")
    print(f"\nCache hit rates after the demo's traffic: {shot}")
    for label, row in sorted(rows.items()):
        print(f"  {label}: {row['Hits']} hits, {row['Misses']} misses, hint: {bool(row['hint'])}")
    assert waited, f"within {TRAFFIC_SECONDS:g}s of traffic: {rows}"
    for label in CACHED_LABELS:
        hits, misses = number(rows[label]["Hits"]), number(rows[label]["Misses"])
        assert hits > misses, f"{label}: {hits} hits, {misses} misses"
    # Written more often than read: the hint that caching the table does not pay.
    assert re.search(r"written about (once|\d+ times) a minute", rows[ORDERS_LABEL]["hint"])
    assert not browser.console_errors()
