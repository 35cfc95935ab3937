"""Exports started from a changelist in a real browser, run by the real Celery worker.

Issue #13, acceptance 1: on the database of the pass (SQLite, the embedded
default, or PostgreSQL), a few thousand rows export in every format, one
after another and two queued at once; each job page reaches "succeeded" with
the full row count, and the file downloaded through its link holds every row.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from perfkit.exports.models import ExportJob
from perfkit.exports.storage import export_storage
from tests.browser.driver import PASSWORD, POLL_SECONDS, Browser
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

if TYPE_CHECKING:
    from tests.conftest import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ROWS = 3000
JOB_SECONDS = 90  # a bound on one job, queue wait included; each takes a few seconds
XLSX_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@pytest.fixture
def many_books(transactional_db: None) -> Iterator[None]:
    """:data:`ROWS` books, committed (the worker and the live server read them)."""
    author = Author.objects.create(name="Ann")
    # Few distinct page counts: the changelist's "pages" filter lists each one.
    Book.objects.bulk_create(
        (Book(title=f"b{i}", author=author, pages=i % 7) for i in range(ROWS)), batch_size=500
    )
    # Five exports in one test: more than a person would start, so no limit gets in the way
    # (the live server's thread reads the same, overridden, settings).
    with override_perfkit({"EXPORTS_RATE_LIMIT": "1000/h"}):
        yield
    for job in ExportJob.objects.exclude(file=""):
        export_storage().delete(job.file)


def titles(fmt: str, content: bytes) -> list[str]:
    """The title of each data row of an export file (a CSV's or a sheet's header left out)."""
    if fmt == "csv":
        header, *lines = content.decode("utf-8").splitlines()
        assert header == "Title,Pages,Author / Name", header
        return [line.split(",", 1)[0] for line in lines]
    if fmt == "jsonl":
        return [json.loads(line)["title"] for line in content.splitlines()]
    # XLSX without openpyxl (not a dependency): the sheet is XML, one <row> a row.
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = sheet.findall(".//m:sheetData/m:row", XLSX_NS)
    # The constant-memory writer keeps strings inline: a row's first cell holds its title.
    return ["".join(row.find("m:c", XLSX_NS).itertext()) for row in rows[1:]]  # type: ignore[union-attr]


def assert_every_row(fmt: str, content: bytes) -> None:
    """The file has :data:`ROWS` rows, each book once (no chunk lost or read twice)."""
    found = titles(fmt, content)
    assert len(found) == ROWS, f"{fmt}: {len(found)} rows"
    assert set(found) == {f"b{i}" for i in range(ROWS)}, fmt


def start_all_matching(browser: Browser, fmt: str) -> str:
    """Choose ``fmt`` under "Export all matching" and submit; the new job page's path."""
    Select(browser.find("#perfkit-export-all select[name=format]")).select_by_value(fmt)
    browser.click_to_load(browser.find("#perfkit-export-all [type=submit]"))
    return followed_job(browser)


def start_action_on_all(browser: Browser, fmt: str) -> str:
    """Select every book on every page and run "Export selected … as ``fmt``"."""
    browser.find("#action-toggle").click()
    browser.find(".actions .question a").click()  # "Select all 3000 books"
    browser.wait_for(lambda driver: browser.find(".actions .all").is_displayed())
    Select(browser.find(".actions select[name=action]")).select_by_value(f"perfkit_export_{fmt}")
    browser.click_to_load(browser.find(".actions button[name=index]"))
    return followed_job(browser)


def followed_job(browser: Browser) -> str:
    """Back on the changelist: the message's "Follow its progress" link."""
    message = browser.text(".messagelist")
    assert "Export started in the background." in message, message
    links = browser.driver.find_elements(By.LINK_TEXT, "Follow its progress")
    assert len(links) == 1, message
    href = str(links[0].get_attribute("href"))
    return href[len(browser.base_url) :]


def wait_succeeded(browser: Browser, job_path: str, worker: WorkerProcess) -> None:
    """Open the job page and let its script poll until the job has finished."""
    browser.open(job_path)

    def finished(driver: Any) -> bool:
        return browser.text("#perfkit-export-status") in {"succeeded", "failed", "cancelled"}

    try:
        WebDriverWait(browser.driver, JOB_SECONDS, poll_frequency=POLL_SECONDS * 4).until(finished)
    except TimeoutException:
        pytest.fail(f"{job_path}: {browser.text('#perfkit-export')}\n{worker.log()}")
    status = browser.text("#perfkit-export-status")
    assert status == "succeeded", f"{browser.text('#perfkit-export')}\n{worker.log()}"
    assert browser.text("#perfkit-export-rows") == str(ROWS)
    assert browser.text("#perfkit-export-total") == str(ROWS)
    assert browser.find("#perfkit-export-bar").get_attribute("value") == "100"


def download(browser: Browser, fmt: str, directory: Path) -> bytes:
    """Click the job page's download link; the saved file's bytes."""
    directory.mkdir()
    browser.download_to(directory)
    link = browser.find("#perfkit-export-download")
    assert link.is_displayed(), "no download link on a succeeded job"
    name = link.text.removeprefix("Download ")
    assert name.startswith("book-") and name.endswith(f".{fmt}"), name
    link.click()
    return browser.downloaded(directory, name)


def test_exports_from_the_changelist_through_the_worker(
    browser: Browser,
    admin: User,
    many_books: None,
    celery_worker_process: WorkerProcess,
    tmp_path: Path,
) -> None:
    changelist = reverse("admin:testapp_book_changelist")
    browser.login(admin.username, PASSWORD, next_path=changelist)
    assert browser.path == changelist, browser.path

    # One after another: each finishes before the next starts.
    for fmt in ("csv", "jsonl", "xlsx"):
        job_path = start_all_matching(browser, fmt)
        wait_succeeded(browser, job_path, celery_worker_process)
        if fmt == "xlsx":
            browser.screenshot("export_job_succeeded")
        assert_every_row(fmt, download(browser, fmt, tmp_path / fmt))
        browser.open(changelist)

    # Two at once: both queued before either is looked at.
    pair = {
        "xlsx": start_action_on_all(browser, "xlsx"),
        "csv": start_all_matching(browser, "csv"),
    }
    browser.screenshot("export_started")
    for fmt, job_path in pair.items():
        wait_succeeded(browser, job_path, celery_worker_process)
        assert_every_row(fmt, download(browser, fmt, tmp_path / f"pair-{fmt}"))

    jobs = ExportJob.objects.all()
    assert len(jobs) == 5
    assert all(job.attempts == 1 and not job.error for job in jobs), [
        (job.attempts, job.error) for job in jobs
    ]
    assert not browser.console_errors()
