"""A stalled job does not look alive (issue #13, item 4): the job page says so, and the
perfkit status page lists the exports that failed or stalled in the last day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from perfkit.exports import api
from perfkit.exports.models import ExportJob
from tests.testapp.models import Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

Status = ExportJob.Status
STATUS_URL = "/admin/perfkit/perfkitstatus/"


def job_at(
    status: str, *, heartbeat_age: float = 0, finished_age: float = 0, error: str = ""
) -> ExportJob:
    job = api.start(Book.objects.all(), ["title"], "csv")
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=status,
        rows_total=25015,
        heartbeat_at=now - timedelta(seconds=heartbeat_age) if status == Status.RUNNING else None,
        finished_at=now - timedelta(seconds=finished_age) if status == Status.FAILED else None,
        error=error,
    )
    job.refresh_from_db()
    return job


def test_the_job_page_says_a_running_job_without_heartbeat_is_stalled(
    client: Client, admin_user: User
) -> None:
    client.force_login(admin_user)
    with override_perfkit({"EXPORTS_HEARTBEAT_SECONDS": 10.0}):
        stalled = job_at(Status.RUNNING, heartbeat_age=95)
        alive = job_at(Status.RUNNING, heartbeat_age=5)
        page = client.get(reverse("admin:perfkit_exports_exportjob_change", args=[stalled.pk]))
        assert "stalled: no heartbeat for 95 s" in page.content.decode()
        progress = client.get(
            reverse("admin:perfkit_exports_exportjob_progress", args=[stalled.pk])
        ).json()
        assert progress["stalled_seconds"] == 95
        page = client.get(reverse("admin:perfkit_exports_exportjob_change", args=[alive.pk]))
        assert "stalled: no heartbeat" not in page.content.decode()
        progress = client.get(
            reverse("admin:perfkit_exports_exportjob_progress", args=[alive.pk])
        ).json()
        assert progress["stalled_seconds"] is None


def test_the_status_page_lists_failed_and_stalled_exports_of_the_last_day(
    client: Client, admin_user: User
) -> None:
    failed = job_at(
        Status.FAILED, finished_age=3600, error="The worker running this export stopped"
    )
    stalled = job_at(Status.RUNNING, heartbeat_age=600)
    job_at(Status.FAILED, finished_age=2 * 86400, error="long ago")
    job_at(Status.RUNNING, heartbeat_age=1)
    job_at(Status.SUCCEEDED)
    client.force_login(admin_user)
    page = client.get(STATUS_URL).content.decode()
    assert "Exports that failed or stalled" in page
    assert "The worker running this export stopped" in page
    assert "stalled: no heartbeat for 600 s" in page
    assert "long ago" not in page
    assert reverse("admin:perfkit_exports_exportjob_change", args=[failed.pk]) in page
    assert reverse("admin:perfkit_exports_exportjob_change", args=[stalled.pk]) in page
    assert [job.pk for job in api.troubled_jobs()] == [stalled.pk, failed.pk]


def test_the_status_figures_skip_exports_when_it_is_not_installed() -> None:
    from django.conf import settings

    from perfkit.operations import status

    job_at(Status.FAILED, finished_age=60, error="boom")
    assert [row.error for row in status.export_problems() or []] == ["boom"]
    apps = [app for app in settings.INSTALLED_APPS if app != "perfkit.exports"]
    with override_settings(INSTALLED_APPS=apps):
        assert status.export_problems() is None
