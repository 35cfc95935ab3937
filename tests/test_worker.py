"""The real Celery worker process executes tasks against the test database."""

from __future__ import annotations

import pytest

from tests.testapp.models import TaskMark
from tests.testapp.tasks import mark
from tests.utils import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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


def test_export_end_to_end_through_the_admin_and_the_worker(
    celery_worker_process,  # type: ignore[no-untyped-def]
    django_user_model,  # type: ignore[no-untyped-def]
) -> None:
    from django.contrib.auth.models import Permission
    from django.test import Client
    from django.urls import reverse

    from perfkit.exports.models import ExportJob
    from tests.testapp.models import Author, Book

    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(50))
    owner = django_user_model.objects.create_user("owner", password="x", is_staff=True)
    for codename in ("view_book", "add_exportjob"):
        owner.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(owner)
    client.post(reverse("admin:testapp_book_perfkit_export") + "?pages__gte=10", {"format": "csv"})
    job = ExportJob.objects.get()
    assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == "succeeded"), (
        ExportJob.objects.get(pk=job.pk).error or celery_worker_process.log()
    )
    url = reverse("admin:perfkit_exports_exportjob_download", args=[job.pk])
    response = client.get(url)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    response.close()
    assert lines[0] == "Title,Pages,Author / Name" and len(lines) == 41

    stranger = django_user_model.objects.create_user("stranger", password="x", is_staff=True)
    client.force_login(stranger)
    assert client.get(url).status_code in (403, 404)
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
