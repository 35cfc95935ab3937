from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.test import Client
from django.urls import reverse

from perfkit import api as core_api
from perfkit.exports.models import ReportRun
from perfkit.exports.report_runs import run_due_reports, run_report
from perfkit.exports.reports import crontab_kwargs, is_due, registered
from perfkit.exports.storage import export_storage
from perfkit.recording.pipeline import record
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

MONDAY_0700 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@pytest.fixture
def books() -> None:
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(3))


def test_crontab_is_mapped_by_keyword() -> None:
    assert crontab_kwargs("0 7 * * 1") == {
        "minute": "0",
        "hour": "7",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "1",
    }
    assert is_due("0 7 * * 1", MONDAY_0700)
    assert not is_due("0 7 * * 2", MONDAY_0700)  # positional crontab() would swap fields
    assert not is_due("0 7 * * 1", MONDAY_0700.replace(minute=1))
    with pytest.raises(ValueError, match="five cron fields"):
        crontab_kwargs("0 7 * *")


def test_due_reports_run_and_a_failing_one_fails_alone(books: None) -> None:
    assert set(run_due_reports(now=MONDAY_0700)) >= {"books", "broken"}
    runs = {(r.report, r.format): r for r in ReportRun.objects.all()}
    assert runs[("books", "csv")].status == "succeeded" and runs[("books", "csv")].rows == 3
    assert runs[("books", "jsonl")].status == "succeeded"
    assert runs[("broken", "csv")].status == "failed"
    assert "fails on purpose" in runs[("broken", "csv")].error
    with export_storage().open(runs[("books", "csv")].file) as handle:
        assert handle.read().decode().splitlines()[0] == "Title,Pages"
    run_due_reports(now=MONDAY_0700)  # the same minute again: nothing runs twice
    assert ReportRun.objects.filter(report="books").count() == 2


def test_results_are_emailed_attached_or_linked(books: None) -> None:
    run_report("books")
    assert len(mail.outbox) == 2  # one per format
    assert mail.outbox[0].to == ["team@example.com"]
    assert mail.outbox[0].attachments[0][0].startswith("books-")
    mail.outbox.clear()
    with override_perfkit(
        {"EXPORTS_EMAIL_ATTACH_MAX_BYTES": 0, "EXPORTS_BASE_URL": "https://x.example"}
    ):
        run_report("books")
    assert not mail.outbox[0].attachments
    assert "https://x.example/admin/perfkit_exports/reportrun/" in mail.outbox[0].body


def test_performance_digest_reads_core_rollups() -> None:
    digest = registered()["performance-digest"]
    record("endpoint", "GET slow/", {"count": 2, "n1": 1}, None, 900_000)
    record("endpoint", "GET fast/", {"count": 5}, None, 1000)
    record("cache", "shop_book", {"hits": 3, "misses": 1})
    assert core_api.flush()
    core_api.drain(include_current=True)  # the Redis recorder's counts need a drain
    rows = list(digest.rows())
    assert rows[0][:3] == ("slowest", "GET slow/", 2)
    assert ("n+1", "GET slow/") in [row[:2] for row in rows]
    assert ("cache", "shop_book", 4, None, 0, None, 75.0) in rows


def test_reports_page_runs_now_and_downloads_are_checked(
    client: Client,
    admin_user: User,
    django_user_model: type[User],
    books: None,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    client.force_login(admin_user)
    page = client.get(reverse("admin:perfkit_exports_reportrun_changelist"))
    assert "Run now" in page.content.decode() and "All books" in page.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("admin:perfkit_exports_reportrun_run_now"), {"report": "books"})
    assert len(callbacks) == 1
    response = client.post(
        reverse("admin:perfkit_exports_reportrun_run_now"), {"report": "nope"}, follow=True
    )
    assert "Unknown report" in response.content.decode()
    run = run_report("books")[0]
    url = reverse("admin:perfkit_exports_reportrun_download", args=[run.pk])
    staff = django_user_model.objects.create_user("s", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    assert Client().get(url).status_code == 302


def test_old_report_files_are_purged_and_new_ones_kept(books: None) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from perfkit.exports import maintenance

    run_report("books")
    old, new = ReportRun.objects.order_by("pk")[:2]
    ReportRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert maintenance.purge_old_files() == 1
    assert not export_storage().exists(old.file)
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.file == "" and new.file and export_storage().exists(new.file)


def test_report_runs_link_their_files_on_the_list_and_the_run_page(
    client: Client, django_user_model: type[User], books: None
) -> None:
    """Issue #13, item 8: the download view was reachable only by typing its URL."""
    ok, failed = run_report("books")[0], ReportRun.objects.create(report="books", format="csv")
    ReportRun.objects.filter(pk=failed.pk).update(status=ReportRun.Status.FAILED)
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reportrun"))
    client.force_login(viewer)
    download = reverse("admin:perfkit_exports_reportrun_download", args=[ok.pk])
    listing = client.get(reverse("admin:perfkit_exports_reportrun_changelist")).content.decode()
    assert f'href="{download}"' in listing
    # Only runs with a file get a link.
    missing = reverse("admin:perfkit_exports_reportrun_download", args=[failed.pk])
    assert missing not in listing
    page = client.get(reverse("admin:perfkit_exports_reportrun_change", args=[ok.pk]))
    assert page.status_code == 200
    assert f'href="{download}"' in page.content.decode()
    failed_page = client.get(reverse("admin:perfkit_exports_reportrun_change", args=[failed.pk]))
    assert missing not in failed_page.content.decode()
    response = client.get(download)
    assert response.status_code == 200
    assert f'filename="{ok.download_name}"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"Title,Pages")
    response.close()


def test_report_run_downloads_need_staff_and_the_view_permission(
    client: Client, django_user_model: type[User], books: None
) -> None:
    run = run_report("books")[0]
    url = reverse("admin:perfkit_exports_reportrun_download", args=[run.pk])
    view = Permission.objects.get(codename="view_reportrun")
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    # The link is not shown to a user who may not follow it (nor is the list).
    assert client.get(reverse("admin:perfkit_exports_reportrun_changelist")).status_code == 403
    # The permission without staff status: the admin's login page.
    outsider = django_user_model.objects.create_user("outsider", password="x")
    outsider.user_permissions.add(view)
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff.user_permissions.add(view)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    response.close()
