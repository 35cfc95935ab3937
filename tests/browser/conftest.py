"""One Chromium per session; each test gets it reset, a live server and real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver

from perfkit import api
from perfkit.exports import api as exports_api
from perfkit.exports import engine
from perfkit.exports.models import ExportJob, ReportRun
from perfkit.exports.report_runs import run_report
from perfkit.exports.storage import export_storage
from tests.browser.driver import PASSWORD, Browser, chromium
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit


@pytest.fixture(scope="session")
def chrome() -> Iterator[webdriver.Chrome]:
    """The session's one browser: starting Chromium costs about a second."""
    with chromium(Path(settings.RUN_DIR) / "chromedriver.log") as driver:
        yield driver


@pytest.fixture(autouse=True)
def fast_passwords(settings: Settings) -> None:
    """Every test signs in through the form: PBKDF2 would cost ~0.5 s a hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser(chrome: webdriver.Chrome, live_server: LiveServer) -> Browser:
    """The browser with no cookies and no console messages left from earlier tests."""
    page = Browser(chrome, live_server.url)
    page.reset()
    return page


@pytest.fixture
def admin(transactional_db: None, django_user_model: type[User]) -> User:
    """The superuser the page tests sign in as (password :data:`PASSWORD`)."""
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


@pytest.fixture
def books(transactional_db: None) -> list[Book]:
    """Six books by one author (reading their authors one by one is an N+1)."""
    author = Author.objects.create(name="Ann")
    return Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(6))


@pytest.fixture
def traffic(books: list[Book]) -> None:
    """Requests (one with an N+1) and cached lookups, flushed into the rollups.

    ``live_server`` makes the test transactional, so all of it is committed and
    the server's thread sees it.
    """
    client = Client()
    with override_perfkit({"METRICS_SLOW_MS": 0.001}):  # keeps a slow sample
        assert client.get("/n-plus-one/").status_code == 200
    assert client.get("/ping/").status_code == 200
    for _ in range(3):  # a miss, then two hits
        Author.objects.cached().count()
    assert api.flush()
    api.drain(include_current=True)  # the Redis recorder's counts reach the rollups


@pytest.fixture
def export_job(
    admin: User, books: list[Book], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ExportJob]:
    """A finished export of the six books, run here as a worker would run it."""
    # Nothing goes to the broker: a later worker test would receive the message.
    monkeypatch.setattr(exports_api, "enqueue", lambda job: None)
    job = exports_api.start(
        Book.objects.order_by("pages"), ["title", "pages", "author__name"], "csv", owner=admin
    )
    assert engine.run(str(job.pk)) == ExportJob.Status.SUCCEEDED
    job.refresh_from_db()
    yield job
    export_storage().delete(job.file)


@pytest.fixture
def report_runs(admin: User, books: list[Book]) -> Iterator[list[ReportRun]]:
    """The test app's "books" report, run now (one run per format)."""
    runs = run_report("books", user=admin)
    yield runs
    for run in runs:
        if run.file:
            export_storage().delete(run.file)
