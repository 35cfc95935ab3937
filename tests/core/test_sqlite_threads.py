"""SQLite, the embedded default: request threads and the flush thread share a file (#12, item 5)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from perfkit import api
from perfkit.checks import check_sqlite_flush_thread
from perfkit.models import Resolution, Rollup
from perfkit.recording import errors
from perfkit.recording.pipeline import pipeline
from tests.testapp.models import Author
from tests.utils import override_perfkit

pytestmark = [
    pytest.mark.skipif(bool(settings.DATABASE_URL), reason="SQLite only (the embedded default)"),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
REQUESTS = 5_000


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong")


def write(request: HttpRequest) -> HttpResponse:
    """A view that writes in autocommit and in a short transaction, as views do."""
    Author.objects.create(name="a")
    with transaction.atomic():  # reads, then writes: the lock is taken at the write
        author = Author.objects.filter(name="a").first()
        Author.objects.filter(pk=getattr(author, "pk", 0)).update(name="b")
    return HttpResponse("written")


urlpatterns = [path("ping/", ping), path("write/", write)]


def _serve(paths: list[str], requests: int) -> list[str]:
    """Serve ``paths`` round-robin from THREADS threads; returns what went wrong."""
    problems: list[str] = []
    per_thread = requests // THREADS

    def worker(number: int) -> None:
        client = Client()
        try:
            for index in range(per_thread):
                url = paths[(number + index) % len(paths)]
                response = client.get(url)
                if response.status_code != 200:
                    problems.append(f"{url}: {response.status_code}")
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return problems


def _total(endpoint: str) -> int:
    row = Rollup.objects.filter(kind="endpoint", key=endpoint, resolution=Resolution.TOTAL).first()
    return int(row.counters.get("count", 0)) if row else 0


# What the demo (and docs/deployment.md) configure for SQLite shared by threads.
SHARED_SQLITE = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


@contextmanager
def sqlite_options(options: dict[str, object]) -> Iterator[None]:
    """Connections opened inside use ``options`` (every thread shares the settings dict)."""
    database = connections["default"].settings_dict
    saved = database["OPTIONS"]
    database["OPTIONS"] = options
    connections.close_all()
    try:
        yield
    finally:
        database["OPTIONS"] = saved
        connections.close_all()


def _run(
    paths: list[str], requests: int, caplog: pytest.LogCaptureFixture, **perfkit: object
) -> Callable[[], int]:
    values = {"RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 0.05, **perfkit}
    with (
        override_settings(ROOT_URLCONF=__name__),
        override_perfkit(values),
        sqlite_options(SHARED_SQLITE),
        caplog.at_level(logging.WARNING),
    ):
        pipeline.reset_recorder()
        problems = _serve(paths, requests)
        pipeline.stop_thread()
    assert api.flush()
    assert problems == []
    assert "database is locked" not in caplog.text
    assert "perfkit" not in caplog.text, caplog.text
    assert errors.snapshot() == {}
    return lambda: sum(_total(f"GET {p.strip('/')}/") for p in paths)


def test_request_threads_and_the_flush_thread_share_a_sqlite_file(
    caplog: pytest.LogCaptureFixture,
) -> None:
    total = _run(["/ping/"], REQUESTS, caplog)
    assert total() == REQUESTS


def test_views_that_write_beside_the_flush_thread_lose_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Views reading then writing in transactions, slow samples, a flush every 10 ms."""
    requests = 800
    total = _run(
        ["/ping/", "/write/"], requests, caplog, RECORDER_FLUSH_INTERVAL=0.01, METRICS_SLOW_MS=0
    )
    assert total() == requests
    assert Author.objects.filter(name="b").count() == requests // 2


def test_a_flush_waits_out_a_write_lock_longer_than_the_busy_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds the write lock past the timeout: the flush retries, idempotently."""
    name = str(connections["default"].settings_dict["NAME"])
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(name, timeout=5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(0.4)
        other.execute("COMMIT")
        other.close()

    with override_perfkit({"RECORDER": "db"}), sqlite_options({"timeout": 0.05}):
        pipeline.reset_recorder()
        for _ in range(3):
            pipeline.record("endpoint", "GET locked/", {"count": 1})
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        locked.wait(5)
        try:
            with caplog.at_level(logging.WARNING):
                assert api.flush()
        finally:
            release.set()
            holder.join(5)
    assert errors.snapshot() == {}
    assert _total("GET locked/") == 3


def test_a_flush_thread_on_sqlite_without_immediate_transactions_is_a_warning() -> None:
    database = connections["default"].settings_dict
    with override_perfkit({"RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 1.0}):
        (message,) = check_sqlite_flush_thread()
        assert message.id == "perfkit.W004" and "'default'" in message.msg
        with sqlite_options({**database["OPTIONS"], "transaction_mode": "IMMEDIATE"}):
            assert check_sqlite_flush_thread() == []
    assert check_sqlite_flush_thread() == []  # no flush thread (interval 0)
