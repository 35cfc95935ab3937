from __future__ import annotations

import pytest
from debug_toolbar.toolbar import DebugToolbar
from django.test import RequestFactory, override_settings
from django.urls import resolve

from perfkit.contrib.debug_toolbar.panel import PerfkitPanel
from tests.testapp import views
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def run_panel(path: str) -> PerfkitPanel:
    request = RequestFactory().get(path)

    def get_response(request):  # type: ignore[no-untyped-def]
        match = resolve(request.path)
        return match.func(request, *match.args, **match.kwargs)

    toolbar = DebugToolbar(request, get_response)
    panel = PerfkitPanel(toolbar, get_response)
    response = panel.process_request(request)
    panel.generate_stats(request, response)
    return panel


@override_settings(DEBUG_TOOLBAR_CONFIG={"IS_RUNNING_TESTS": False})
def test_panel_shows_n_plus_one_with_call_site_and_budget() -> None:
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(6))
    Book.objects.bulk_create(Book(title="t", author=a) for a in authors)
    panel = run_panel("/n-plus-one/")
    stats = panel.get_stats()
    assert stats["queries"] == 7 and stats["n_plus_one"] == 1
    top = stats["repeated"][0]
    assert top["count"] == 6 and top["n_plus_one"] and f"{views.__file__}:" in top["site"]
    assert stats["over_budget"] is False
    assert panel.nav_subtitle == "7 queries, 0 dup, 1 N+1"
    html = panel.content
    assert "n_plus_one" in html and "(N+1)" in html
    assert top["fix"] == 'Book.objects.select_related("author")'
    assert "select_related(&quot;author&quot;)" in html


@pytest.mark.django_db(transaction=True)  # uncommitted writes would bypass the cache
@override_settings(DEBUG_TOOLBAR_CONFIG={"IS_RUNNING_TESTS": False})
def test_panel_shows_cache_hits_and_misses_per_label() -> None:
    Author.objects.create(name="a")
    panel = run_panel("/cached-count/")  # the same cached count twice: a miss, then a hit
    stats = panel.get_stats()
    assert stats["cache"]["hits"] == 1 and stats["cache"]["misses"] == 1
    assert stats["cache_labels"]["testapp_author"]["hits"] == 1
    assert stats["cache_labels"]["testapp_author"]["misses"] == 1
    assert "<code>testapp_author</code></td><td>1</td><td>1</td>" in panel.content
