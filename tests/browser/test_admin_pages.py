"""Every perfkit admin page in a real browser, signed in through the admin's login form.

Each test opens its page as a superuser, checks what the page must show,
that its inline SVG charts were drawn with a real size, and that the browser's
console stayed free of errors; a screenshot of each page is kept in
artifacts/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils.http import urlencode
from selenium.webdriver.common.by import By

from perfkit.exports.models import ExportJob, ReportRun
from perfkit.exports.storage import export_storage
from tests.browser.driver import PASSWORD, Browser, Chart

pytestmark = pytest.mark.browser

N_PLUS_ONE = "GET n-plus-one/"


def sign_in(browser: Browser, admin: User, path: str) -> None:
    """Sign in as the superuser through the login form, landing on ``path``."""
    browser.login(admin.username, PASSWORD, next_path=path)
    assert browser.path == path, f"signed in, but at {browser.path} instead of {path}"


def assert_quiet_console(browser: Browser) -> None:
    errors = browser.console_errors()
    assert not errors, f"console errors on {browser.path}: {errors}"


def assert_drawn(chart: Chart, what: str) -> None:
    """The chart has a size and shows its data (a legend's swatches are not data)."""
    assert chart.has_size, f"{what} has no size on the page: {chart}"
    assert chart.lines + chart.dots, f"{what} draws no line or point: {chart}"


def cells(browser: Browser, table: str, first_cell: str) -> list[str]:
    """The cells of the row of ``table`` whose first cell starts with ``first_cell``."""
    for row in browser.find_all(f"{table} tbody tr"):
        texts = [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
        if texts and texts[0].startswith(first_cell):
            return texts
    raise AssertionError(f"no row starting with {first_cell!r} in {table}")


def card(browser: Browser, label: str) -> str:
    """The figure of the endpoint detail card labelled ``label``."""
    for element in browser.find_all(".perfkit-card"):
        if element.text.startswith(label):
            return str(element.find_element(By.TAG_NAME, "b").text)
    raise AssertionError(f"no card {label!r}")


def test_slow_endpoints(browser: Browser, admin: User, traffic: None) -> None:
    url = reverse("admin:perfkit_metrics_endpointstats_changelist") + "?window=1h"
    sign_in(browser, admin, url)
    browser.screenshot("slow_endpoints")
    assert browser.text("h1") == "Slow endpoints"
    row = cells(browser, "#perfkit-endpoints", N_PLUS_ONE)
    assert row[1] == "1", row  # one request
    assert "N+1 ×1" in row, row
    assert cells(browser, "#perfkit-endpoints", "GET ping/")[1] == "1"
    sparklines = browser.charts("perfkit-spark")
    assert len(sparklines) == 2, sparklines
    for chart in sparklines:
        assert_drawn(chart, "a p95 sparkline")
    assert_quiet_console(browser)


def test_endpoint_detail(browser: Browser, admin: User, traffic: None) -> None:
    url = reverse("admin:perfkit_metrics_endpointstats_changelist") + "?window=1h"
    sign_in(browser, admin, url)
    browser.click_to_load(browser.driver.find_element(By.LINK_TEXT, N_PLUS_ONE))
    detail = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    assert browser.path == detail + "?" + urlencode({"key": N_PLUS_ONE, "window": "1h"})
    browser.screenshot("endpoint_detail")
    assert browser.text("h1") == N_PLUS_ONE
    assert card(browser, "Requests") == "1"
    assert card(browser, "N+1 requests") == "1"
    charts = browser.charts("perfkit-chart")
    assert len(charts) == 3, charts  # latency, queries per request, histogram
    latency, queries, histogram = charts
    assert_drawn(latency, "the latency chart")
    assert_drawn(queries, "the queries chart")
    assert histogram.bars >= 1 and histogram.has_size, histogram
    samples = browser.text("#content-main table")
    assert "/n-plus-one/" in samples and "n_plus_one" in samples, samples
    assert_quiet_console(browser)


def test_cache_hit_rates(browser: Browser, admin: User, traffic: None) -> None:
    url = reverse("admin:perfkit_cache_cachestats_changelist") + "?window=1h"
    sign_in(browser, admin, url)
    browser.screenshot("cache_hit_rates")
    assert browser.text("h1") == "Cache hit rates"
    row = cells(browser, "#perfkit-cache-labels", "testapp_author")
    assert row[1:4] == ["2", "1", "66.7%"], row  # hits, misses, hit ratio
    (chart,) = browser.charts("perfkit-chart")
    assert_drawn(chart, "the hit ratio chart")
    assert_quiet_console(browser)


def test_export_jobs(browser: Browser, admin: User, export_job: ExportJob) -> None:
    sign_in(browser, admin, reverse("admin:perfkit_exports_exportjob_changelist"))
    browser.screenshot("export_jobs")
    row = browser.text("#result_list tbody tr")
    assert "testapp.Book" in row and "succeeded" in row and "csv" in row, row
    assert len(browser.find_all("#result_list tbody tr")) == 1
    assert_quiet_console(browser)


def test_export_job_detail(browser: Browser, admin: User, export_job: ExportJob) -> None:
    url = reverse("admin:perfkit_exports_exportjob_change", args=[export_job.pk])
    sign_in(browser, admin, url)
    # The page's script asks the progress URL once (the job is finished) and
    # fills the figures from its answer.
    progress = reverse("admin:perfkit_exports_exportjob_progress", args=[export_job.pk])
    browser.wait_for(
        lambda driver: driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".some(e => e.name.endsWith(arguments[0]) && e.responseEnd > 0);",
            progress,
        ),
        "the page never asked for the job's progress",
    )
    browser.screenshot("export_job_detail")
    assert browser.text("#perfkit-export-status") == "succeeded"
    assert browser.text("#perfkit-export-rows") == "6"
    assert browser.find("#perfkit-export-bar").get_attribute("value") == "100"
    download = browser.find("#perfkit-export-download")
    assert download.is_displayed() and download.text.startswith("Download book-"), download.text
    assert not browser.find("#perfkit-export-error").is_displayed()
    assert_quiet_console(browser)


def test_report_runs(browser: Browser, admin: User, report_runs: list[ReportRun]) -> None:
    sign_in(browser, admin, reverse("admin:perfkit_exports_reportrun_changelist"))
    browser.screenshot("report_runs")
    assert "All books (books)" in browser.text("#perfkit-reports")
    assert browser.find_all("#perfkit-reports input[type=submit][value='Run now']")
    rows = [row.text for row in browser.find_all("#result_list tbody tr")]
    assert len(rows) == len(report_runs) == 2, rows
    assert all(" books " in row and " succeeded 6 " in row for row in rows), rows
    assert_quiet_console(browser)


def test_report_run_downloads_from_the_list_and_the_run_page(
    browser: Browser, admin: User, report_runs: list[ReportRun], tmp_path: Path
) -> None:
    """Issue #13, item 8: the files are reached by clicking, not by typing their URL."""
    browser.download_to(tmp_path)
    sign_in(browser, admin, reverse("admin:perfkit_exports_reportrun_changelist"))
    run = next(run for run in report_runs if run.format == "csv")
    with export_storage().open(run.file, "rb") as handle:
        stored = handle.read()
    row = next(
        row for row in browser.find_all("#result_list tbody tr") if " csv " in f" {row.text} "
    )
    link = row.find_element(By.CSS_SELECTOR, "a.perfkit-report-download")
    assert link.text == f"Download {run.download_name}", link.text
    link.click()
    assert browser.downloaded(tmp_path, run.download_name) == stored
    (tmp_path / run.download_name).unlink()

    browser.click_to_load(row.find_element(By.CSS_SELECTOR, "th a"))
    assert browser.path == reverse("admin:perfkit_exports_reportrun_change", args=[run.pk])
    browser.screenshot("report_run_detail")
    link = browser.find("a.perfkit-report-download")
    assert link.is_displayed()
    link.click()
    assert browser.downloaded(tmp_path, run.download_name) == stored
    assert_quiet_console(browser)


def test_perfkit_status(browser: Browser, admin: User, traffic: None) -> None:
    sign_in(browser, admin, reverse("admin:perfkit_perfkitstatus_changelist"))
    browser.screenshot("perfkit_status")
    assert browser.text("h1") == "perfkit status"
    headings = [h.text for h in browser.find_all("#content-main h2")]
    assert headings[0] == "Recorder (this web process)", headings
    assert "perfkit.recording.backends." in browser.text("#content-main table")
    assert_quiet_console(browser)


def test_database_page(browser: Browser, admin: User, traffic: None) -> None:
    url = reverse("admin:perfkit_databaseinsights_changelist")
    sign_in(browser, admin, url)
    browser.screenshot("database")
    n_plus_one = browser.text("#perfkit-n-plus-one")
    # The fingerprint of /n-plus-one/'s repeated author query, with its call site.
    assert "testapp_author" in n_plus_one and "n_plus_one" in n_plus_one, n_plus_one
    headings = [h.text for h in browser.find_all("#content-main h2")]
    if connection.vendor == "postgresql":
        assert "Index hints" in headings, headings
    else:  # index hints read PostgreSQL's statistics views; the page says so
        assert "Index hints" not in headings, headings
        assert "do not apply to sqlite" in browser.text("#perfkit-postgres-only")
    assert_quiet_console(browser)


def test_every_page_is_listed_on_the_admin_index(browser: Browser, admin: User) -> None:
    sign_in(browser, admin, "/admin/")
    links = {a.get_attribute("href").split("?")[0] for a in browser.find_all("#content-main a")}
    for name in (
        "perfkit_metrics_endpointstats_changelist",
        "perfkit_cache_cachestats_changelist",
        "perfkit_exports_exportjob_changelist",
        "perfkit_exports_reportrun_changelist",
        "perfkit_perfkitstatus_changelist",
        "perfkit_databaseinsights_changelist",
    ):
        assert browser.base_url + reverse(f"admin:{name}") in links, name
    browser.screenshot("admin_index")
    assert_quiet_console(browser)


def test_login_redirect_keeps_the_query(browser: Browser, admin: User, traffic: None) -> None:
    """An anonymous visit is sent to the login form, and back to the page after it."""
    url = reverse("admin:perfkit_metrics_endpointstats_changelist")
    browser.open(url + "?" + urlencode({"window": "24h"}))
    assert browser.path.startswith("/admin/login/"), browser.path
    browser.find("#id_username").send_keys(admin.username)
    browser.find("#id_password").send_keys(PASSWORD)
    browser.click_to_load(browser.find("#login-form [type=submit]"))
    assert browser.path == url + "?window=24h"
    assert N_PLUS_ONE in browser.text("#perfkit-endpoints")
    assert_quiet_console(browser)
