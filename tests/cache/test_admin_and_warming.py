from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from perfkit import api
from perfkit.cache.dashboard import label_rows
from perfkit.cache.tasks import warm
from perfkit.recording.query import WINDOWS
from tests.testapp.models import Author, Book, Review

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/perfkit_cache/cachestats/"


def _label_figures() -> dict[str, tuple[int, int, int]]:
    """(hits, misses, invalidations) per label over the last hour, as the page reads them."""
    return {
        row.label: (row.hits, row.misses, row.invalidations) for row in label_rows(WINDOWS["1h"])
    }


def test_hit_rates_page(client: Client, admin_user: User) -> None:
    # Counts other tests flushed to a shared recorder (Redis) and never drained land in
    # the rollups with this test's: compare with what the page showed before.
    api.flush()
    api.drain(include_current=True)
    before = _label_figures()
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

    def added(label: str) -> tuple[int, int, int]:
        row, old = rows[label], before.get(label, (0, 0, 0))
        return (row.hits - old[0], row.misses - old[1], row.invalidations - old[2])

    assert added("testapp_author")[:2] == (2, 1)
    if "testapp_author" not in before:
        assert round(rows["testapp_author"].ratio_percent) == 67
    assert added("testapp_book")[2] == 70
    assert "written about once a minute" in rows["testapp_book"].hint
    # No cached read of reviews to advise about: no hint, only the count.
    assert added("testapp_review")[2] == 70
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
