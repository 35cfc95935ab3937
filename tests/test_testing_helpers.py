from __future__ import annotations

import pytest
from django.test import Client

from perfkit.testing import (
    QueryAssertionError,
    assert_max_queries,
    assert_no_duplicate_queries,
    assert_no_n_plus_one,
)
from tests.metrics.helpers import line_of
from tests.testapp import views
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def books() -> None:
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(8))
    Book.objects.bulk_create(Book(title="t", author=a) for a in authors)


def test_max_queries_lists_statements_and_call_sites(books: None, client: Client) -> None:
    with assert_max_queries(9):
        client.get("/n-plus-one/")
    with pytest.raises(QueryAssertionError) as failure:
        with assert_max_queries(3):
            client.get("/n-plus-one/")
    message = str(failure.value)
    assert "9 queries ran, more than the 3 allowed" in message
    assert f"{views.__file__}:" in message and "in n_plus_one" in message


def test_duplicates_and_n_plus_one(books: None, client: Client) -> None:
    with pytest.raises(QueryAssertionError, match="1 duplicate queries"):
        with assert_no_duplicate_queries():
            client.get("/duplicate/")
    with pytest.raises(QueryAssertionError) as failure:
        with assert_no_n_plus_one():
            client.get("/n-plus-one/")
    message = str(failure.value)
    line = line_of(views.__file__, "# N+1: one author query per book")
    assert f"{views.__file__}:{line} in n_plus_one" in message  # the loop's file and line
    assert 'SELECT "testapp_author"."id"' in message and "8x" in message  # the repeated SQL
    with assert_no_n_plus_one(), assert_no_duplicate_queries():
        client.get("/books/")


def test_pytest_fixtures(
    books: None, client: Client, perfkit_max_queries, perfkit_no_n_plus_one
) -> None:  # type: ignore[no-untyped-def]
    with perfkit_max_queries(2):
        client.get("/books/")
    with pytest.raises(QueryAssertionError):
        with perfkit_no_n_plus_one():
            client.get("/n-plus-one/")
