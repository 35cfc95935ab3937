"""EXPORTS_CHECK_FIELD_PERMISSIONS: columns through models the user cannot view (#13, item 9)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from perfkit.exports import engine
from perfkit.exports.columns import permitted_fields
from perfkit.exports.models import ExportJob
from perfkit.exports.storage import export_storage
from tests.testapp.models import Author, Book, ExportRow
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

CHECKED = {"EXPORTS_CHECK_FIELD_PERMISSIONS": True}


@pytest.fixture
def books() -> list[Book]:
    author = Author.objects.create(name="Ann")
    return Book.objects.bulk_create(
        Book(title=title, author=author, pages=pages) for title, pages in (("a", 1), ("b", 2))
    )


def staff(django_user_model: type[User], name: str, *codenames: str) -> User:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return User.objects.get(pk=user.pk)  # no stale permission cache


@pytest.fixture
def no_authors(django_user_model: type[User]) -> User:
    """May export books, may not view authors (BookAdmin exports author__name)."""
    return staff(django_user_model, "no_authors", "view_book", "add_exportjob")


def read(job: ExportJob) -> str:
    with export_storage().open(job.file, "rb") as handle:
        return handle.read().decode()


def test_the_developer_chooses_the_columns_by_default(
    client: Client, no_authors: User, books: list[Book]
) -> None:
    """Off (the default), export_fields are exported whatever the user's permissions."""
    client.force_login(no_authors)
    client.post(reverse("admin:testapp_book_perfkit_export"), {"format": "csv"})
    job = ExportJob.objects.get()
    assert job.fields == ["title", "pages", "author__name"] and job.dropped_fields == []


def test_columns_through_a_model_the_user_cannot_view_are_dropped_with_a_note(
    client: Client, no_authors: User, books: list[Book]
) -> None:
    client.force_login(no_authors)
    with override_perfkit(CHECKED):
        response = client.post(
            reverse("admin:testapp_book_perfkit_export"), {"format": "csv"}, follow=True
        )
    job = ExportJob.objects.get()
    assert job.fields == ["title", "pages"] and job.dropped_fields == ["author__name"]
    shown = response.content.decode()
    assert "Export started" in shown
    assert "left out" in shown and "author__name" in shown, shown
    page = client.get(reverse("admin:perfkit_exports_exportjob_change", args=[job.pk]))
    assert 'id="perfkit-export-dropped"' in page.content.decode()
    assert "author__name" in page.content.decode()
    engine.run(str(job.pk))
    job.refresh_from_db()
    assert read(job).splitlines()[0] == "Title,Pages"
    assert "Ann" not in read(job)


def test_the_action_drops_them_too(client: Client, no_authors: User, books: list[Book]) -> None:
    client.force_login(no_authors)
    with override_perfkit(CHECKED):
        response = client.post(
            reverse("admin:testapp_book_changelist"),
            {"action": "perfkit_export_jsonl", "_selected_action": [books[0].pk]},
            follow=True,
        )
    assert ExportJob.objects.get().fields == ["title", "pages"]
    assert "author__name" in response.content.decode()


def test_a_user_who_may_view_the_related_model_keeps_the_column(
    client: Client, django_user_model: type[User], books: list[Book]
) -> None:
    # The admin's rule: the change permission implies view.
    user = staff(django_user_model, "editor", "view_book", "change_author", "add_exportjob")
    client.force_login(user)
    with override_perfkit(CHECKED):
        client.post(reverse("admin:testapp_book_perfkit_export"), {"format": "csv"})
    job = ExportJob.objects.get()
    assert job.fields == ["title", "pages", "author__name"] and job.dropped_fields == []


def test_every_hop_of_a_path_is_checked(django_user_model: type[User]) -> None:
    user = staff(django_user_model, "rows", "view_exportrow")
    kept, dropped = permitted_fields(
        user, ExportRow, ["title", "author", "author_id", "author__name", "author__id"]
    )
    # The foreign key's own value lives on the row; following it reads the author.
    assert kept == ["title", "author", "author_id"]
    assert dropped == ["author__name", "author__id"]
    superuser = django_user_model.objects.create_superuser("root", "r@example.com", "x")
    assert permitted_fields(superuser, ExportRow, ["author__name"]) == (["author__name"], [])


def test_nothing_left_to_export_is_an_error_and_no_job(
    client: Client,
    django_user_model: type[User],
    books: list[Book],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.testapp.admin import BookAdmin

    monkeypatch.setattr(BookAdmin, "export_fields", ("author__name",))
    client.force_login(staff(django_user_model, "none", "view_book", "add_exportjob"))
    with override_perfkit(CHECKED):
        response = client.post(
            reverse("admin:testapp_book_perfkit_export"), {"format": "csv"}, follow=True
        )
    assert not ExportJob.objects.exists()
    assert "author__name" in response.content.decode()
    assert "Nothing was exported" in response.content.decode()
