"""The real Celery worker process executes tasks against the test database."""

from __future__ import annotations

import time

import pytest

from tests.testapp.models import TaskMark
from tests.testapp.tasks import mark

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_executes_a_task(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    result = mark.delay("from-the-worker")
    pk = result.get(timeout=30)
    assert TaskMark.objects.get(pk=pk).label == "from-the-worker"
    assert celery_worker_process.process.poll() is None


def test_task_runs_are_recorded_by_the_worker_with_their_n_plus_one(
    celery_worker_process,  # type: ignore[no-untyped-def]
) -> None:
    from perfkit import api
    from perfkit.models import Resolution, Rollup
    from tests.testapp.models import Author, Book
    from tests.testapp.tasks import failing_task, n_plus_one_task

    authors = Author.objects.bulk_create(Author(name=f"w{i}") for i in range(6))
    Book.objects.bulk_create(Book(title="t", author=a) for a in authors)
    assert n_plus_one_task.delay("n1").get(timeout=30) == 6
    failed = failing_task.delay()
    with pytest.raises(ValueError, match="on purpose"):
        failed.get(timeout=30)

    def recorded(name: str) -> dict[str, int]:
        api.drain(include_current=True)  # the Redis recorder's counts need a drain
        row = Rollup.objects.filter(
            kind="endpoint", key=f"task {name}", resolution=Resolution.TOTAL
        ).first()
        return dict(row.counters) if row else {}

    # The worker's flush thread writes every 0.2 s.
    assert wait_for(lambda: recorded("tests.testapp.tasks.failing_task").get("errors") == 1)
    counters = recorded("tests.testapp.tasks.n_plus_one_task")
    assert counters["count"] == 1
    assert counters["n1"] == 1
    assert counters["queries"] == 8  # authors, 6 x books, the insert
