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
