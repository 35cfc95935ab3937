"""The admin's export button when the changelist itself would refuse the request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from perfkit.exports.models import ExportJob
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def exporter(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("exporter", password="x", is_staff=True)
    for codename in ("view_book", "view_author", "add_exportjob"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.mark.parametrize("query", ["nonexistent=1", "pages__gt=notanumber"])
def test_bad_filter_parameters_redirect_like_the_changelist(
    client: Client, exporter: User, query: str
) -> None:
    Book.objects.create(title="t", author=Author.objects.create(name="Ann"), pages=1)
    client.force_login(exporter)
    changelist = reverse("admin:testapp_book_changelist")
    assert client.get(f"{changelist}?{query}").url == f"{changelist}?e=1"  # Django's own answer
    response = client.post(
        reverse("admin:testapp_book_perfkit_export") + f"?{query}", {"format": "csv"}
    )
    assert response.status_code == 302
    assert response.url == f"{changelist}?e=1"
    assert not ExportJob.objects.exists()
    page = client.get(response.url)
    assert "Nothing was exported" in page.content.decode()
