"""perfkit.regressions in a real browser: the Regressions page (acknowledge through the
form) and the endpoint page's release markers and comparison (issue #15).

Screenshots: artifacts/screenshots/regressions*.png, endpoint_releases.png.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.http import urlencode
from selenium.webdriver.common.by import By

from perfkit.regressions import api
from perfkit.regressions.models import Regression
from tests.browser.driver import PASSWORD, Browser
from tests.regressions.history import ENDPOINT, write

pytestmark = pytest.mark.browser

HOUR = timedelta(hours=1)


@pytest.fixture
def regressed(transactional_db: None) -> Regression:
    """Release 1.1 doubled GET shop/books/'s p95 against 1.0; detection opened it."""
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    api.record_release("1.0", at=now - 6 * HOUR)
    api.record_release("1.1", at=now - 2 * HOUR)
    write(now - 6 * HOUR, 240, per_minute=2, ms=40, queries=3)
    write(now - 2 * HOUR, 120, per_minute=2, ms=90, queries=3)
    api.detect(now)
    return Regression.objects.get()


def test_regressions_page_lists_and_acknowledges(
    browser: Browser, admin: User, regressed: Regression
) -> None:
    page = reverse("admin:perfkit_regressions_regression_changelist")
    browser.login(admin.username, PASSWORD, next_path=page)
    browser.screenshot("regressions")
    assert browser.text("h1") == "Regressions"
    row = browser.find(f'tr[data-regression="{regressed.pk}"]')
    text = row.text
    assert ENDPOINT in text and "p95 latency (ms)" in text and "release 1.0" in text
    assert f"{regressed.before:.1f} → {regressed.after:.1f} ms" in text
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    browser.click_to_load(browser.find("#perfkit-acknowledge input[type=submit]"))
    browser.screenshot("regressions_acknowledged")
    assert "Acknowledged 1 regression" in browser.text(".messagelist")
    assert "No open regressions." in browser.text()
    regressed.refresh_from_db()
    assert regressed.acknowledged_by == admin.username
    assert not browser.console_errors()


def test_endpoint_page_marks_releases_and_compares_them(
    browser: Browser, admin: User, regressed: Regression
) -> None:
    detail = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    path = detail + "?" + urlencode({"key": ENDPOINT, "window": "24h"})
    browser.login(admin.username, PASSWORD, next_path=path)
    browser.screenshot("endpoint_releases")
    table = browser.text("#perfkit-release-comparison")
    assert "Requests 480 240" in table and "Queries per request 3.0 3.0" in table
    markers = browser.find_all("svg.perfkit-chart g.perfkit-marker")
    assert len(markers) == 4  # two releases on the latency and the queries charts
    for marker in markers:
        line = marker.find_element(By.TAG_NAME, "line")
        assert line.size["height"] > 100, line.size  # drawn across the plot
    assert not browser.console_errors()
