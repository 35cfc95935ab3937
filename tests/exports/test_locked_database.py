"""A job always moves on a locked database (SQLite, the embedded default; issue #13, item 1).

The worker reads in short key-ordered chunks, never holding a read open across
its progress writes, retries "database is locked" with backoff, and a
transient error leaves the job pending (for the retry) rather than running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet

from perfkit.exports import api, engine
from perfkit.exports.models import ExportJob
from perfkit.exports.storage import export_storage
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

# Threads and the worker write on their own connections: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

Status = ExportJob.Status
LOCKED = "database is locked"


def fail_once(match: Callable[[dict[str, Any]], bool]) -> Any:
    """Patch ``QuerySet.update`` to raise "database is locked" once, for the first matching call."""
    original = QuerySet.update
    raised: list[dict[str, Any]] = []

    def update(self: QuerySet[Any], **kwargs: Any) -> int:
        if self.model is ExportJob and not raised and match(kwargs):
            raised.append(kwargs)
            raise OperationalError(LOCKED)
        return original(self, **kwargs)

    return mock.patch.object(QuerySet, "update", update), raised


def unsent_job(fields: list[str], fmt: str) -> ExportJob:
    """A job whose task is never sent: the engine runs here, not the session-wide real worker."""
    with mock.patch("perfkit.exports.api.enqueue"):
        return api.start(Book.objects.all(), fields, fmt)


@pytest.fixture
def books() -> list[Book]:
    author = Author.objects.create(name="Ann")
    return Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(7))


def test_a_locked_progress_write_is_retried_and_the_job_finishes(books: list[Book]) -> None:
    job = unsent_job(["title", "pages"], "jsonl")
    patch, raised = fail_once(lambda kw: "rows_done" in kw and "status" not in kw)
    with override_perfkit({"EXPORTS_CHUNK_SIZE": 2, "EXPORTS_PROGRESS_SECONDS": 1e-9}), patch:
        assert engine.run(str(job.pk)) == Status.SUCCEEDED
    assert raised, "the progress write was never made"
    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (7, 7)


def test_a_locked_heartbeat_does_not_stop_the_heartbeat(books: list[Book]) -> None:
    job = unsent_job(["title"], "csv")
    ExportJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    patch, raised = fail_once(lambda kw: set(kw) == {"heartbeat_at"})
    with override_perfkit({"EXPORTS_HEARTBEAT_SECONDS": 0.02}), patch:
        with engine.Heartbeat(str(job.pk)) as heartbeat:
            time.sleep(0.3)
            assert heartbeat._thread.is_alive()
    assert raised
    job.refresh_from_db()
    assert job.heartbeat_at is not None


def test_a_transient_error_leaves_the_job_pending_even_if_the_reset_is_locked_once(
    books: list[Book],
) -> None:
    """Celery retries the task; the retry must find the job pending, not running."""
    job = unsent_job(["title"], "csv")
    patch, raised = fail_once(lambda kw: kw.get("status") == Status.PENDING)
    broken = mock.patch.object(engine, "resolve_columns", side_effect=OperationalError(LOCKED))
    with patch, broken, pytest.raises(OperationalError):
        engine.run(str(job.pk))
    assert raised, "the job was never given back"
    job.refresh_from_db()
    assert job.status == Status.PENDING
    assert LOCKED in job.error
    assert engine.run(str(job.pk)) == Status.SUCCEEDED  # the retry claims it again


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ((), list(range(7))),
        (("-pk",), list(range(6, -1, -1))),
        (("-pages", "title"), list(range(6, -1, -1))),  # not keyset: offset chunks
    ],
)
def test_chunked_reads_keep_the_querysets_order(
    books: list[Book], ordering: tuple[str, ...], expected: list[int]
) -> None:
    values = Book.objects.order_by(*ordering).values_list("pages")
    with override_perfkit({"EXPORTS_CHUNK_SIZE": 3}):
        chunks = list(engine.read_chunks(values))
    assert [row[0] for chunk in chunks for row in chunk] == expected


# --- the real worker, with another process writing ----------------------------


ROWS = 3000


class Writer(threading.Thread):
    """Writes in short transactions, and every other time holds the write lock ~1 s."""

    def __init__(self) -> None:
        super().__init__(name="concurrent-writer", daemon=True)
        self.stop = threading.Event()
        self.writes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with transaction.atomic():
                    Author.objects.create(name=f"w{self.writes}")
                    if self.writes % 2:
                        time.sleep(1.0)
                self.writes += 1
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()


@pytest.mark.worker
@pytest.mark.parametrize("fmt", ["jsonl", "xlsx", "csv"])
def test_the_worker_finishes_while_another_process_writes(
    celery_worker_process: Any, fmt: str
) -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(ROWS))
    writer = Writer()
    writer.start()
    try:
        time.sleep(0.3)
        job = api.start(Book.objects.order_by("-pk"), ["title", "pages", "author__name"], fmt)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = ExportJob.objects.get(pk=job.pk)
            if found.status in {Status.SUCCEEDED, Status.FAILED}:
                break
            time.sleep(0.2)
    finally:
        writer.stop.set()
        writer.join(timeout=10)
    assert writer.error is None, writer.error
    assert writer.writes > 1
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (
        f"{job.status} {job.rows_done}/{job.rows_total} {job.error}\n" + celery_worker_process.log()
    )
    assert (job.rows_done, job.rows_total) == (ROWS, ROWS)
    assert job.attempts == 1
    if fmt == "jsonl":
        with export_storage().open(job.file, "rb") as handle:
            assert len(handle.read().splitlines()) == ROWS
