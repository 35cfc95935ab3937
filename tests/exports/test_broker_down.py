"""A job always moves: an unreachable broker at submit time leaves a pending job the
reaper re-sends, never a 500 and a job stuck in "pending" forever."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from perfkit.exports import api, maintenance
from perfkit.exports.models import ExportJob
from tests.testapp.models import Author, Book
from tests.utils import wait_for

# The job's task is sent when the transaction commits: these tests commit.

pytestmark = pytest.mark.django_db(transaction=True)

Status = ExportJob.Status
UNREACHABLE = "The task queue is unreachable; the export will start when it is back."
DEAD_BROKER = {
    "broker_url": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    "broker_connection_retry": False,
    "broker_connection_max_retries": 0,
    "broker_connection_timeout": 1,
    "broker_transport_options": {"max_retries": 0, "socket_connect_timeout": 1},
}


def _reset_pools() -> None:
    """Make the app look its pools up again, for the broker its conf now names.

    kombu keeps one pool per broker URL process-wide; the app only caches
    references to them, so dropping those is enough (closing them would close
    the real broker's pools for everyone).
    """
    app = current_app
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_down() -> Iterator[None]:
    """Point the (already configured) Celery app at a broker that is not there."""
    conf = current_app.conf
    saved = {key: conf[key] for key in DEAD_BROKER}
    _reset_pools()
    conf.update(DEAD_BROKER)
    try:
        yield
    finally:
        _reset_pools()
        conf.update(saved)


def messages_of(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


@pytest.fixture
def books() -> list[Book]:
    author = Author.objects.create(name="Ann")
    return Book.objects.bulk_create(
        Book(title=f"b{index}", author=author, pages=index) for index in range(5)
    )


@pytest.fixture
def exporter(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("exporter", password="x", is_staff=True)
    for codename in ("view_book", "add_exportjob", "view_exportjob", "add_reportrun"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def unsent_job(**kwargs: Any) -> ExportJob:
    """A job whose task was never sent: a session-wide real worker cannot run it meanwhile."""
    with broker_down():
        job = api.start(Book.objects.all(), ["title"], "csv", **kwargs)
    assert job.queued is False
    return job


def age(job: ExportJob, minutes: float = 10) -> None:
    """Make the job look like it has been waiting for ``minutes``."""
    then = timezone.now() - timedelta(minutes=minutes)
    ExportJob.objects.filter(pk=job.pk).update(created_at=then)


def test_submit_with_the_broker_down_says_so_and_keeps_the_job(
    client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    with broker_down():
        response = client.post(reverse("admin:testapp_book_perfkit_export"), {"format": "csv"})
    assert response.status_code == 302
    assert any(UNREACHABLE in message for message in messages_of(response))
    job = ExportJob.objects.get()
    assert (job.status, job.attempts, job.sent_at) == (Status.PENDING, 0, None)


def test_the_reaper_resends_pending_jobs_that_were_never_sent(books: list[Book]) -> None:
    with broker_down():
        job = api.start(Book.objects.all(), ["title"], "csv")
        assert job.queued is False
        age(job)
        assert maintenance.resend_pending() == 0  # still down: tried, nothing sent
    fresh = api.start(Book.objects.all(), ["title"], "csv")  # sent, and recent
    assert fresh.queued is True
    assert maintenance.resend_pending() == 1
    job.refresh_from_db()
    assert job.sent_at is not None  # a real worker may already be running it
    assert maintenance.resend_pending() == 0  # re-sent a moment ago: not again yet


def test_a_pending_job_whose_message_was_lost_is_resent(books: list[Book]) -> None:
    job = unsent_job()
    old = timezone.now() - timedelta(minutes=10)
    ExportJob.objects.filter(pk=job.pk).update(created_at=old, sent_at=old)
    assert maintenance.resend_pending() == 1


def test_retry_with_the_broker_down(client: Client, exporter: User, books: list[Book]) -> None:
    job = unsent_job(owner=exporter)
    ExportJob.objects.filter(pk=job.pk).update(status=Status.FAILED, error="boom")
    client.force_login(exporter)
    url = reverse("admin:perfkit_exports_exportjob_retry", args=[job.pk])
    with broker_down():
        response = client.post(url)
    assert response.status_code == 302
    assert any(UNREACHABLE in message for message in messages_of(response))
    job.refresh_from_db()
    assert (job.status, job.sent_at) == (Status.PENDING, None)
    age(job)
    assert maintenance.resend_pending() == 1


def test_retry_action_with_the_broker_down(
    client: Client, exporter: User, books: list[Book]
) -> None:
    job = unsent_job(owner=exporter)
    ExportJob.objects.filter(pk=job.pk).update(status=Status.CANCELLED)
    client.force_login(exporter)
    with broker_down():
        response = client.post(
            reverse("admin:perfkit_exports_exportjob_changelist"),
            {"action": "retry_jobs", "_selected_action": [job.pk]},
        )
    assert response.status_code == 302
    assert any(UNREACHABLE in message for message in messages_of(response))
    assert ExportJob.objects.get(pk=job.pk).status == Status.PENDING


def test_run_now_with_the_broker_down(client: Client, exporter: User) -> None:
    from perfkit.exports.reports import registered

    name = sorted(registered())[0]
    client.force_login(exporter)
    with broker_down():
        response = client.post(reverse("admin:perfkit_exports_reportrun_run_now"), {"report": name})
    assert response.status_code == 302
    assert any("task queue is unreachable" in message for message in messages_of(response))


def test_the_reapers_requeue_with_the_broker_down(books: list[Book]) -> None:
    job = unsent_job()
    old = timezone.now() - timedelta(minutes=10)
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, heartbeat_at=old, created_at=old, attempts=1
    )
    with broker_down():
        assert maintenance.reap_stale() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert (job.status, job.sent_at) == (Status.PENDING, None)
    assert maintenance.resend_pending() == 1


@pytest.mark.worker
def test_the_job_finishes_once_the_broker_is_back(
    celery_worker_process: Any, client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    with broker_down():
        client.post(reverse("admin:testapp_book_perfkit_export"), {"format": "csv"})
    job = ExportJob.objects.get()
    assert job.status == Status.PENDING
    age(job)
    from perfkit.exports.tasks import reap_stale

    assert reap_stale()["resent"] == 1  # the periodic task, run here in-process
    assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == Status.SUCCEEDED), (
        ExportJob.objects.get(pk=job.pk).error or celery_worker_process.log()
    )
    job.refresh_from_db()
    assert (job.rows_done, job.attempts) == (5, 1)
