from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from perfkit import api
from perfkit.cache.tasks import warm
from tests.testapp.models import Author, Book, Review

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/perfkit_cache/cachestats/"


def test_hit_rates_page(client: Client, admin_user: User) -> None:
    author = Author.objects.create(name="a")
    for _ in range(3):
        Author.objects.cached().count()
    for i in range(70):  # a table written more than once a minute, read once
        Book.objects.create(title=str(i), author=author)
    Book.objects.cached().count()
    book = Book.objects.first()
    for _ in range(70):  # written as often, but never read through the cache
        Review.objects.create(book=book)
    api.flush()
    api.drain(include_current=True)
    client.force_login(admin_user)
    response = client.get(URL, {"window": "1h"})
    assert response.status_code == 200
    rows = {row.label: row for row in response.context["rows"]}
    author_row = rows["testapp_author"]
    assert (author_row.hits, author_row.misses) == (2, 1)
    assert round(author_row.ratio_percent) == 67
    assert rows["testapp_book"].invalidations == 70
    assert "written about once a minute" in rows["testapp_book"].hint
    # No cached read of reviews to advise about: no hint, only the count.
    assert rows["testapp_review"].invalidations == 70
    assert rows["testapp_review"].hint == ""
    assert "<svg" in response.content.decode()


def test_hit_rates_page_needs_the_permission(client: Client, django_user_model: type[User]) -> None:
    staff = django_user_model.objects.create_user("s", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_cachestats"))
    assert client.get(URL).status_code == 200


def test_warmers_fill_the_cache() -> None:
    Author.objects.create(name="a")
    out = StringIO()
    call_command("perfkit_warm_cache", "--list", stdout=out)
    assert "tests.testapp.cache_warmers.author_count" in out.getvalue()
    call_command("perfkit_warm_cache", stdout=out)
    assert "author_count: ok" in out.getvalue()
    with CaptureQueriesContext(connection) as captured:
        Author.objects.cached().count()
    assert len(captured.captured_queries) == 0
    assert warm.apply().get() == {"tests.testapp.cache_warmers.author_count": True}
    with pytest.raises(CommandError, match="Unknown cache warmer"):
        call_command("perfkit_warm_cache", "nope")
