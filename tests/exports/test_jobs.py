"""Export jobs: validation, the engine, the admin, downloads, rate limits, upkeep."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.db.models import Value
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from perfkit.exports import api, engine, maintenance
from perfkit.exports.models import ExportJob
from perfkit.exports.storage import export_storage
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

Status = ExportJob.Status


@pytest.fixture(autouse=True)
def empty_storage() -> None:
    """Each test starts with no export files (rolled-back jobs leave theirs)."""
    import shutil

    shutil.rmtree(export_storage().location, ignore_errors=True)  # type: ignore[attr-defined]


@pytest.fixture
def books() -> list[Book]:
    author = Author.objects.create(name="Ann")
    return Book.objects.bulk_create(
        Book(title=title, author=author, pages=pages)
        for title, pages in (("=SUM(A1)", 10), ("plain", 200), ("", 300))
    )


@pytest.fixture
def exporter(django_user_model: type[User]) -> User:
    """A staff user who may export books and see their own jobs."""
    user = django_user_model.objects.create_user("exporter", password="x", is_staff=True)
    for codename in ("view_book", "view_author", "add_exportjob"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def close_file_response(response: object) -> None:
    """Close a FileResponse's file without closing the test's database connection."""
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()  # type: ignore[attr-defined]
    finally:
        request_finished.connect(close_old_connections)


def read(job: ExportJob) -> bytes:
    with export_storage().open(job.file, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize(
    ("fields", "fmt", "message"),
    [
        (["nope"], "csv", "nope"),
        (["title"], "pdf", "Unknown export format 'pdf'"),
        ([], "csv", "at least one field"),
        (["author__books"], "csv", "author__books"),
    ],
)
def test_bad_input_is_refused_clearly(
    books: list[Book], fields: list[str], fmt: str, message: str
) -> None:
    with pytest.raises(api.ExportError, match=message):
        api.start(Book.objects.all(), fields, fmt)
    assert not ExportJob.objects.exists()


def test_an_unpicklable_queryset_is_refused() -> None:
    class Local:
        pass

    queryset = Author.objects.annotate(thing=Value(Local()))
    with pytest.raises(api.ExportError, match="cannot be exported in the background"):
        api.start(queryset, ["name"], "csv")
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_engine_writes_the_file_and_succeeds(books: list[Book], fmt: str) -> None:
    job = api.start(Book.objects.order_by("pages"), ["title", "pages", "author__name"], fmt)
    assert engine.run(str(job.pk)) == Status.SUCCEEDED
    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (3, 3)
    assert job.size and job.size > 0
    content = read(job)
    if fmt == "csv":
        assert content.decode().splitlines() == [
            "Title,Pages,Author / Name",
            "'=SUM(A1),10,Ann",
            "plain,200,Ann",
            '"",300,Ann',
        ]
    if fmt == "jsonl":
        assert b'"=SUM(A1)"' in content  # JSON Lines is not a spreadsheet: left as is
    assert engine.run(str(job.pk)) == Status.SUCCEEDED  # a second delivery does nothing


def test_a_failing_export_says_why_and_leaves_no_file(books: list[Book]) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv")
    ExportJob.objects.filter(pk=job.pk).update(model_label="testapp.Gone")
    assert engine.run(str(job.pk)) == Status.FAILED
    job.refresh_from_db()
    assert "Gone" in job.error and job.file == ""


def test_cancel_and_retry(books: list[Book]) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv")
    assert api.cancel(job)
    assert engine.run(str(job.pk)) == Status.CANCELLED
    assert not api.cancel(job)
    assert api.retry(job)
    assert engine.run(str(job.pk)) == Status.SUCCEEDED


def test_reaper_requeues_dead_jobs_then_fails_them_clearly(books: list[Book]) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv")
    old = timezone.now() - timedelta(minutes=10)
    ExportJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, heartbeat_at=old, attempts=1)
    assert maintenance.reap_stale() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == Status.PENDING
    ExportJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, heartbeat_at=old, attempts=3)
    assert maintenance.reap_stale() == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == Status.FAILED and "stopped (no heartbeat since" in job.error


def test_old_and_orphaned_files_are_purged(books: list[Book]) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv")
    engine.run(str(job.pk))
    job.refresh_from_db()
    orphan = export_storage().save("perfkit_exports/orphan/x.csv", __import__("io").BytesIO(b"x"))
    later = timezone.now() + timedelta(days=30)
    assert maintenance.purge_old_files(now=later) == 2
    job.refresh_from_db()
    assert job.file == "" and not export_storage().exists(orphan)


# --- admin --------------------------------------------------------------------


def test_action_exports_the_selected_rows(
    client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    url = reverse("admin:testapp_book_changelist")
    response = client.post(
        url,
        {"action": "perfkit_export_csv", "_selected_action": [books[1].pk]},
        follow=True,
    )
    job = ExportJob.objects.get()
    assert job.owner == exporter and job.fields == ["title", "pages", "author__name"]
    assert "Follow its progress" in response.content.decode()
    engine.run(str(job.pk))
    job.refresh_from_db()
    assert job.rows_done == 1


def test_button_exports_everything_matching_the_filters(
    client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    changelist = client.get(reverse("admin:testapp_book_changelist"), {"pages": "200"})
    assert "Export all matching the current filters and search" in changelist.content.decode()
    url = reverse("admin:testapp_book_perfkit_export") + "?pages=200"
    client.post(url, {"format": "csv"})
    job = ExportJob.objects.get()
    engine.run(str(job.pk))
    job.refresh_from_db()
    assert job.rows_done == 1
    assert read(job).decode().splitlines()[1] == "plain,200,Ann"


def test_default_fields_are_list_display_model_fields_only(
    client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    client.post(reverse("admin:testapp_author_perfkit_export"), {"format": "jsonl"})
    assert ExportJob.objects.get().fields == ["name"]


def test_export_needs_the_permission(
    client: Client, django_user_model: type[User], books: list[Book]
) -> None:
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_book"))
    client.force_login(viewer)
    page = client.get(reverse("admin:testapp_book_changelist")).content.decode()
    assert "perfkit_export_csv" not in page and "Export all matching" not in page
    assert (
        client.post(reverse("admin:testapp_book_perfkit_export"), {"format": "csv"}).status_code
        == 403
    )
    assert not ExportJob.objects.exists()


def test_rate_limit_gives_a_clear_message(
    client: Client, exporter: User, books: list[Book]
) -> None:
    client.force_login(exporter)
    url = reverse("admin:testapp_book_perfkit_export")
    with override_perfkit({"EXPORTS_RATE_LIMIT": "2/m"}):
        for _ in range(2):
            client.post(url, {"format": "csv"})
        response = client.post(url, {"format": "csv"}, follow=True)
    assert "too many exports recently" in response.content.decode()
    assert ExportJob.objects.count() == 2


def test_bad_format_from_the_button(client: Client, exporter: User, books: list[Book]) -> None:
    client.force_login(exporter)
    response = client.post(
        reverse("admin:testapp_book_perfkit_export"), {"format": "pdf"}, follow=True
    )
    assert "Unknown export format" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_downloads_are_permission_checked(
    client: Client, exporter: User, django_user_model: type[User], books: list[Book]
) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv", owner=exporter)
    engine.run(str(job.pk))
    url = reverse("admin:perfkit_exports_exportjob_download", args=[job.pk])

    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    other = django_user_model.objects.create_user("other", password="x", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="add_exportjob"))
    client.force_login(other)
    assert client.get(url).status_code == 404

    client.force_login(exporter)
    response = client.get(url)
    assert response.status_code == 200
    assert 'attachment; filename="book-' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"Title")
    close_file_response(response)

    other.user_permissions.add(Permission.objects.get(codename="view_all_exports"))
    other = User.objects.get(pk=other.pk)
    client.force_login(other)
    response = client.get(url)
    assert response.status_code == 200
    close_file_response(response)


def test_job_page_shows_progress_and_actions(
    client: Client, exporter: User, books: list[Book]
) -> None:
    job = api.start(Book.objects.all(), ["title"], "csv", owner=exporter)
    client.force_login(exporter)
    page = client.get(reverse("admin:perfkit_exports_exportjob_change", args=[job.pk]))
    assert page.status_code == 200
    assert "perfkit/export_progress.js" in page.content.decode()
    progress = client.get(reverse("admin:perfkit_exports_exportjob_progress", args=[job.pk]))
    assert progress.json()["status"] == "pending"
    client.post(reverse("admin:perfkit_exports_exportjob_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    client.post(reverse("admin:perfkit_exports_exportjob_retry", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Status.PENDING


def test_files_are_not_under_media_root(settings: object) -> None:
    from django.conf import settings as django_settings

    location = Path(export_storage().location)  # type: ignore[attr-defined]
    assert not location.resolve().is_relative_to(Path(django_settings.MEDIA_ROOT).resolve())


def test_command_exports_in_the_foreground(books: list[Book], tmp_path: Path) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    target = tmp_path / "books.csv"
    call_command(
        "perfkit_export",
        "testapp.Book",
        str(target),
        "--fields",
        "title,pages",
        "--filter",
        "pages__gte=200",
        stdout=out,
    )
    assert "Wrote 2 rows" in out.getvalue()
    assert target.read_text().splitlines() == ["Title,Pages", "plain,200", '"",300']
    for bad in (
        ["testapp.Nope"],
        ["testapp.Book", "--fields", "nope"],
        ["testapp.Book", "--filter", "x"],
    ):
        args = [
            bad[0],
            str(target),
            *(bad[1:] if len(bad) > 1 else []),
        ]
        if "--fields" not in args:
            args += ["--fields", "title"]
        with pytest.raises(CommandError):
            call_command("perfkit_export", *args)
