from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from perfkit.cache.api import clear, invalidate, request_stats
from perfkit.cache.decorators import cached_function
from perfkit.recording import scope
from tests.testapp.models import Author, Book, Plain, Tag
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True)


def queries(func) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        result = func()
    return result, len(captured.captured_queries)


def test_second_read_is_a_hit_and_a_write_invalidates_it() -> None:
    author = Author.objects.create(name="a")
    Book.objects.create(title="one", author=author)
    first, n1 = queries(lambda: list(Book.objects.cached().values_list("title", flat=True)))
    second, n2 = queries(lambda: list(Book.objects.cached().values_list("title", flat=True)))
    assert first == second == ["one"]
    assert (n1, n2) == (1, 0)
    Book.objects.create(title="two", author=author)
    third, n3 = queries(lambda: sorted(Book.objects.cached().values_list("title", flat=True)))
    assert third == ["one", "two"] and n3 == 1


def test_every_evaluation_is_cached() -> None:
    author = Author.objects.create(name="a")
    books = [Book.objects.create(title=f"b{i}", author=author, pages=i) for i in range(5)]
    tag = Tag.objects.create(name="t")
    books[0].tags.add(tag)
    cases = {
        "list": lambda: [b.title for b in Book.objects.cached().order_by("pk")],
        "len": lambda: len(Book.objects.cached()),
        "bool": lambda: bool(Book.objects.cached().filter(pages=3)),
        "slice": lambda: [b.pk for b in Book.objects.cached().order_by("pk")[1:3]],
        "index": lambda: Book.objects.cached().order_by("pk")[2].title,
        "count": lambda: Book.objects.cached().filter(pages__gte=2).count(),
        "exists": lambda: Book.objects.cached().filter(title="b4").exists(),
        "get": lambda: Book.objects.cached().get(title="b1").pages,
        "first": lambda: Book.objects.cached().order_by("pk").first().title,  # type: ignore[union-attr]
        "last": lambda: Book.objects.cached().order_by("pk").last().title,  # type: ignore[union-attr]
        "aggregate": lambda: Book.objects.cached().aggregate(
            total=__import__("django").db.models.Sum("pages")
        ),
        "values": lambda: list(Book.objects.cached().order_by("pk").values("title")),
        "in_bulk": lambda: sorted(Book.objects.cached().in_bulk([books[0].pk, books[1].pk])),
        "select_related": lambda: [
            b.author.name for b in Book.objects.cached().select_related("author")
        ],
        "prefetch": lambda: [
            [t.name for t in b.tags.all()]
            for b in Book.objects.cached().prefetch_related("tags").order_by("pk")
        ],
    }
    for name, case in cases.items():
        expected, _ = queries(case)
        again, count = queries(case)
        assert again == expected, name
        assert count == 0, f"{name} was not served from the cache"


def test_prefetch_tables_are_part_of_the_key() -> None:
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="b", author=author)
    tag = Tag.objects.create(name="x")

    def read():
        return [
            [t.name for t in b.tags.all()] for b in Book.objects.cached().prefetch_related("tags")
        ]

    assert read() == [[]]
    book.tags.add(tag)  # writes only the through table
    assert read() == [["x"]]
    Tag.objects.filter(pk=tag.pk).update(name="y")  # writes only the tag table
    assert read() == [["y"]]


def test_inside_a_transaction_reads_of_written_tables_bypass_and_rollback_bumps_nothing() -> None:
    author = Author.objects.create(name="a")
    assert Author.objects.cached().count() == 1
    with transaction.atomic():
        Author.objects.create(name="b")
        assert Author.objects.cached().count() == 2  # own write visible
        with transaction.atomic():
            Author.objects.filter(pk=author.pk).update(name="c")
    assert Author.objects.cached().count() == 2
    try:
        with transaction.atomic():
            Author.objects.create(name="z")
            assert Author.objects.cached().count() == 3
            raise RuntimeError
    except RuntimeError:
        pass
    _, count = queries(lambda: Author.objects.cached().count())
    assert count == 0  # the rolled back write bumped nothing: still a hit
    assert Author.objects.cached().count() == 2


def test_cached_function_and_invalidate() -> None:
    calls = []

    @cached_function(depends_on=[Author])
    def names(prefix: str) -> list[str]:
        calls.append(prefix)
        return sorted(a.name for a in Author.objects.filter(name__startswith=prefix))

    Author.objects.create(name="ann")
    assert names("a") == ["ann"] and names("a") == ["ann"]
    assert calls == ["a"]
    with connection.cursor() as cursor:  # raw SQL is seen too
        cursor.execute("UPDATE testapp_author SET name = 'amy'")
    assert names("a") == ["amy"]
    assert invalidate(Author)
    names("a")
    assert calls == ["a", "a", "a"]


def test_clear_drops_every_entry_and_the_kill_switch() -> None:
    Author.objects.create(name="a")
    Author.objects.cached().count()
    clear()
    _, count = queries(lambda: Author.objects.cached().count())
    assert count == 1
    with override_perfkit({"CACHE_ENABLED": False}):
        _, count = queries(lambda: Author.objects.cached().count())
        assert count == 1


def test_never_cached_queries() -> None:
    from django.db.models.functions import Now

    Author.objects.create(name="a")
    for make in (
        lambda: list(Author.objects.cached().order_by("?")),
        lambda: list(Author.objects.cached().annotate(at=Now())),
    ):
        make()
        _, count = queries(make)
        assert count == 1
    with transaction.atomic():
        list(Author.objects.cached().select_for_update())
        _, count = queries(lambda: list(Author.objects.cached().select_for_update()))
        assert count == 1


def test_fast_delete_is_not_turned_off() -> None:
    Plain.objects.bulk_create(Plain(value=i) for i in range(10))
    with CaptureQueriesContext(connection) as captured:
        Plain.objects.all().delete()
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    assert statements.count("DELETE") == 1 and "SELECT" not in statements  # fast delete


def test_request_stats_and_server_timing(client) -> None:  # type: ignore[no-untyped-def]
    Author.objects.create(name="a")
    scope.begin()
    Author.objects.cached().count()
    Author.objects.cached().count()
    assert request_stats() == {"misses": 1, "stores": 1, "hits": 1}
    scope.end()


def test_async_querysets_are_cached_the_same_way() -> None:
    from asgiref.sync import async_to_sync

    Author.objects.create(name="a")

    async def read() -> tuple[int, str, list[str]]:
        count = await Author.objects.cached().acount()
        first = await Author.objects.cached().aget(name="a")
        names = [author.name async for author in Author.objects.cached()]
        return count, first.name, names

    assert async_to_sync(read)() == (1, "a", ["a"])
    again, count = queries(async_to_sync(read))
    assert again == (1, "a", ["a"]) and count == 0
    Author.objects.create(name="b")
    assert async_to_sync(read)()[0] == 2


def test_writes_while_the_kill_switch_is_off_still_invalidate() -> None:
    author = Author.objects.create(name="a")
    Book.objects.create(title="one", author=author)
    assert list(Book.objects.cached().values_list("title", flat=True)) == ["one"]
    with override_perfkit({"CACHE_ENABLED": False}):
        Book.objects.update(title="renamed")
    # Turned back on: the entry stored before the switch went off is stale.
    assert list(Book.objects.cached().values_list("title", flat=True)) == ["renamed"]
