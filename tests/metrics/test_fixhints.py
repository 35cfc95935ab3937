"""N+1 fix hints name the select_related/prefetch_related that removes each N+1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.template import Context, Template

from perfkit import observe
from perfkit.capture import Capture
from perfkit.metrics.fixhints import FixHint, capture_hints, fix_hint
from perfkit.testing import QueryAssertionError, assert_no_n_plus_one
from tests.testapp.models import Author, Book, Plain, Review, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def library() -> None:
    tags = [Tag.objects.create(name=f"t{i}") for i in range(3)]
    for a in range(6):
        author = Author.objects.create(name=f"a{a}")
        for b in range(2):
            book = Book.objects.create(title=f"b{a}-{b}", author=author)
            book.tags.set(tags[: b + 1])
            Review.objects.create(book=book)
    for value in range(6):
        Plain.objects.create(value=value)
    for tag in range(6):
        Tag.objects.create(name=f"extra{tag}")


def hints(work: Callable[[], object]) -> list[FixHint]:
    capture = Capture(detailed=True, threshold=5)
    with observe.observing(capture):
        work()
    assert capture.n_plus_one, "the work should have run an N+1"
    found = capture_hints(capture)
    return [found[stat.sql] for stat in capture.n_plus_one]


def only(work: Callable[[], object]) -> FixHint:
    (hint,) = hints(work)
    return hint


def test_forward_foreign_key_is_select_related(library: None) -> None:
    hint = only(lambda: [book.author.name for book in Book.objects.all()])
    assert (hint.method, hint.model, hint.path) == ("select_related", "testapp.Book", "author")
    assert hint.code == 'Book.objects.select_related("author")'


def test_reverse_foreign_key_is_prefetch_related(library: None) -> None:
    hint = only(lambda: [list(author.books.all()) for author in Author.objects.all()])
    assert (hint.method, hint.model, hint.path) == ("prefetch_related", "testapp.Author", "books")


def test_many_to_many_both_directions(library: None) -> None:
    forward = only(lambda: [list(book.tags.all()) for book in Book.objects.all()])
    assert (forward.method, forward.model, forward.path) == (
        "prefetch_related",
        "testapp.Book",
        "tags",
    )
    reverse = only(lambda: [list(tag.books.all()) for tag in Tag.objects.all()])
    assert (reverse.method, reverse.model, reverse.path) == (
        "prefetch_related",
        "testapp.Tag",
        "books",
    )


def test_counting_related_rows_is_an_annotation(library: None) -> None:
    hint = only(lambda: [author.books.count() for author in Author.objects.all()])
    assert (hint.method, hint.model, hint.path) == ("annotate", "testapp.Author", "books")
    assert hint.code == 'Author.objects.annotate(Count("books"))'


def test_filtered_related_rows_need_a_prefetch_object(library: None) -> None:
    hint = only(lambda: [list(a.books.filter(pages__gt=10)) for a in Author.objects.all()])
    assert (hint.method, hint.path) == ("prefetch_related", "books")
    assert "Prefetch()" in hint.note


def test_nested_chain_is_one_select_related_path(library: None) -> None:
    found = hints(lambda: [review.book.author.name for review in Review.objects.all()])
    assert {(h.method, h.model, h.path) for h in found} == {
        ("select_related", "testapp.Review", "book"),
        ("select_related", "testapp.Review", "book__author"),
    }


def test_template_loop(library: None) -> None:
    template = Template("{% for book in books %}{{ book.author.name }}{% endfor %}")
    hint = only(lambda: template.render(Context({"books": Book.objects.all()})))
    assert (hint.method, hint.model, hint.path) == ("select_related", "testapp.Book", "author")


def test_serializer_like_loop(library: None) -> None:
    def serialize() -> list[dict[str, object]]:
        return [
            {"title": b.title, "author": b.author.name, "tags": [t.name for t in b.tags.all()]}
            for b in Book.objects.all()
        ]

    found = hints(serialize)
    assert {(h.method, h.model, h.path) for h in found} == {
        ("select_related", "testapp.Book", "author"),
        ("prefetch_related", "testapp.Book", "tags"),
    }


def test_no_relation_says_so(library: None) -> None:
    hint = only(lambda: [Plain.objects.filter(value=v).count() for v in range(6)])
    assert not hint.found
    assert "testapp.Plain.value" in hint.note
    assert str(hint).startswith("no fix found")


def test_raw_sql_says_so(library: None) -> None:
    def raw() -> None:
        with connection.cursor() as cursor:
            for _ in range(6):
                cursor.execute("SELECT 1")

    hint = only(raw)
    assert not hint.found


def test_unknown_table_and_ambiguous_relations_are_not_guessed() -> None:
    assert (
        "no installed model" in fix_hint('SELECT * FROM "nowhere" WHERE "nowhere"."id" = %s').note
    )
    # Author's primary key is the target of Book.author and ExportRow.author: without a
    # statement before it, the hint lists both instead of picking one.
    sql = 'SELECT "testapp_author"."id" FROM "testapp_author" WHERE "testapp_author"."id" = %s'
    hint = fix_hint(sql)
    assert not hint.found
    assert "testapp.Book" in hint.note and "testapp.ExportRow" in hint.note


def test_demo_n_plus_one_pages(tmp_path: Path) -> None:
    """The demo's deliberately slow pages get the fix their fixed twins apply."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PERFKIT_DEMO_VAR": str(tmp_path),
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.metrics.demo_hints_child"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["/books/"] == [
        ["prefetch_related", "shop.Book", "categories"],
        ["select_related", "shop.Book", "author"],
        ["select_related", "shop.Book", "publisher"],
    ]
    assert found["/api/books/"] == [
        ["select_related", "shop.Book", "author"],
        ["select_related", "shop.Book", "publisher"],
    ]


def test_assert_no_n_plus_one_names_the_fix(library: None) -> None:
    with pytest.raises(QueryAssertionError) as failed:
        with assert_no_n_plus_one():
            [book.author.name for book in Book.objects.all()]
    assert 'fix: Book.objects.select_related("author")' in str(failed.value)
