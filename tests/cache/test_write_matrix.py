"""Every write kind against every read shape, in and around transactions.

Acceptance: for every write kind, a cached read right after it (outside a
transaction; inside one; after commit; after rollback; after a rolled-back
savepoint in a committed outer block) returns exactly what an uncached read
returns, for queries joining, filtering across relations, using subqueries
and annotations, and prefetching.

Each scenario builds a small world, stores the read shapes in the cache (and
checks each warm-up read really stored an entry, or the comparison would pass
vacuously), makes one kind of write and compares each cached read with the
uncached read of the same queryset made right after it. The autocommit
scenario checks every read shape and notes which ones the write changed; the
transaction scenarios check those (a read the write leaves unchanged cannot be
stale). Reads return plain values (tuples of field values), never model
instances: instances compare equal by primary key alone and would hide stale
fields. One test runs one scenario for every write kind, as each
``transaction=True`` test costs a database flush.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Avg, Count, Exists, F, Max, OuterRef, Prefetch, Subquery, Sum, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from perfkit.cache.decorators import cached_function
from perfkit.cache.querysets import CachedQuerySet
from perfkit.recording import scope
from tests.testapp.models import Author, Book, Plain, Review, Tag

# available_apps: the flush after each test empties only the test app's tables
# and skips post_migrate (about a second per test on PostgreSQL otherwise).
pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=["tests.testapp"]),
    pytest.mark.usefixtures("unsynced_sqlite"),
]


# --- the world every test starts from ---------------------------------------


@dataclass
class World:
    ann: Author
    bob: Author
    cid: Author  # no books
    red: Tag
    blue: Tag
    green: Tag
    alpha: Book  # ann, 120 pages, red+blue, reviews 5 and 2
    beta: Book  # ann, 250 pages, blue, review 4
    gamma: Book  # bob, 90 pages, no tags, review 1
    delta: Book  # bob, 300 pages, red+green, no reviews


def build_world() -> World:
    with transaction.atomic():  # one commit (each one syncs the SQLite file)
        ann, bob, cid = Author.objects.bulk_create(Author(name=n) for n in ("ann", "bob", "cid"))
        red, blue, green = Tag.objects.bulk_create(Tag(name=n) for n in ("red", "blue", "green"))
        alpha, beta, gamma, delta = Book.objects.bulk_create(
            [
                Book(title="alpha", author=ann, pages=120),
                Book(title="beta", author=ann, pages=250),
                Book(title="gamma", author=bob, pages=90),
                Book(title="delta", author=bob, pages=300),
            ]
        )
        Through = Book.tags.through
        Through.objects.bulk_create(
            Through(book=book, tag=tag)
            for book, tag in [
                (alpha, red),
                (alpha, blue),
                (beta, blue),
                (delta, red),
                (delta, green),
            ]
        )
        Review.objects.bulk_create(
            Review(book=book, stars=stars)
            for book, stars in [(alpha, 5), (alpha, 2), (beta, 4), (gamma, 1)]
        )
        Plain.objects.bulk_create(Plain(value=v) for v in range(1, 6))
    return World(ann, bob, cid, red, blue, green, alpha, beta, gamma, delta)


def reset() -> None:
    """Empty the tables between scenarios (much cheaper than a flush).

    The cache is left as it is: these deletes give every table a new version,
    so no entry stored before is served again (and the version keys exist,
    which spares the next warm-up creating them).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (Review, Book.tags.through, Book, Author, Tag, Plain):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")


# --- read shapes: read(cached) -> plain values --------------------------------


def q(queryset: Any, cached: bool) -> Any:
    return queryset.cached() if cached else queryset.uncached()


def plain_qs(cached: bool) -> Any:
    """Plain has Django's default manager; a CachedQuerySet over it can still be cached."""
    return CachedQuerySet(model=Plain).cached() if cached else Plain.objects.all()


def _author_books_reviews(cached: bool) -> Any:
    authors = q(Author.objects.prefetch_related("books__reviews").order_by("pk"), cached)
    return [
        (
            a.pk,
            a.name,
            [
                (b.pk, b.title, b.pages, sorted((r.pk, r.stars) for r in b.reviews.all()))
                for b in sorted(a.books.all(), key=lambda b: b.pk)
            ],
        )
        for a in authors
    ]


Read = Callable[[bool], Any]

READS: dict[str, Read] = {
    # plain lists of one model
    "authors": lambda c: [(a.pk, a.name) for a in q(Author.objects.order_by("pk"), c)],
    "plain": lambda c: [(p.pk, p.value) for p in plain_qs(c).order_by("pk")],
    # joins
    "select_related": lambda c: [
        (b.pk, b.title, b.pages, b.author.pk, b.author.name)
        for b in q(Book.objects.select_related("author").order_by("pk"), c)
    ],
    # filters across relations
    "filter_fk": lambda c: list(
        q(Book.objects.filter(author__name="ann").order_by("pk"), c).values_list("pk", "title")
    ),
    "filter_m2m": lambda c: list(
        q(Book.objects.filter(tags__name="red").order_by("pk"), c).values_list("pk", flat=True)
    ),
    # subqueries
    "subquery_in": lambda c: list(
        q(
            Author.objects.filter(
                pk__in=Book.objects.filter(pages__gte=200).values("author")
            ).order_by("pk"),
            c,
        ).values_list("pk", "name")
    ),
    "exists": lambda c: list(
        q(
            Author.objects.filter(
                Exists(Review.objects.filter(book__author=OuterRef("pk"), stars__gte=4))
            ).order_by("pk"),
            c,
        ).values_list("pk", flat=True)
    ),
    "subquery_annotation": lambda c: list(
        q(
            Author.objects.annotate(
                longest=Subquery(
                    Book.objects.filter(author=OuterRef("pk"))
                    .order_by("-pages", "pk")
                    .values("title")[:1]
                )
            ).order_by("pk"),
            c,
        ).values_list("pk", "longest")
    ),
    # annotations across relations
    "annotate_count": lambda c: [
        (a.pk, a.name, a.n) for a in q(Author.objects.annotate(n=Count("books")).order_by("pk"), c)
    ],
    "annotate_m2m": lambda c: list(
        q(
            Tag.objects.annotate(n=Count("books"), pages=Sum("books__pages")).order_by("pk"), c
        ).values_list("pk", "name", "n", "pages")
    ),
    # prefetching
    "prefetch_m2m": lambda c: [
        (b.pk, sorted(t.name for t in b.tags.all()))
        for b in q(Book.objects.prefetch_related("tags").order_by("pk"), c)
    ],
    "prefetch_m2m_reverse": lambda c: [
        (t.pk, sorted(b.title for b in t.books.all()))
        for t in q(Tag.objects.prefetch_related("books").order_by("pk"), c)
    ],
    "prefetch_two_levels": _author_books_reviews,
    "prefetch_object": lambda c: [
        (a.pk, [(b.pk, b.title, b.author.name) for b in a.long_books])
        for a in q(
            Author.objects.prefetch_related(
                Prefetch(
                    "books",
                    queryset=Book.objects.filter(pages__gte=100)
                    .select_related("author")
                    .order_by("pk"),
                    to_attr="long_books",
                )
            ).order_by("pk"),
            c,
        )
    ],
    # count / exists / aggregate
    "count": lambda c: q(Book.objects.filter(pages__gte=150), c).count(),
    "exists_across_relations": lambda c: q(Tag.objects.filter(books__reviews__stars=5), c).exists(),
    "aggregate": lambda c: q(Book.objects.all(), c).aggregate(
        total=Sum("pages"), n=Count("pk"), top=Max("pages")
    ),
    "aggregate_join": lambda c: q(Review.objects.all(), c).aggregate(
        avg=Avg("stars"), authors=Count("book__author", distinct=True)
    ),
}


def snapshot(names: Iterable[str] = READS) -> dict[str, Any]:
    """These read shapes, uncached."""
    return {name: READS[name](False) for name in names}


def warm(names: Iterable[str] = READS, *, prove_hits: bool = False) -> dict[str, Any]:
    """Store these read shapes in the cache; returns their values.

    Each read must have stored its entry by its second evaluation (the scope
    counts stores). With
    ``prove_hits``, a second read of each must also be served without a query.
    """
    values = {}
    not_stored = []
    scope.begin()
    try:
        for name in names:
            before = scope.current()
            values[name] = READS[name](True)
            if scope.current().get("cache_stores", 0) == before.get("cache_stores", 0):
                # The first miss of a shape whose statements read tables its SQL does
                # not name (an aggregate's joins) only learns them; the next one stores.
                values[name] = READS[name](True)
            after = scope.current()
            if after.get("cache_stores", 0) - before.get("cache_stores", 0) != 1:
                not_stored.append(name)
            elif prove_hits:
                with CaptureQueriesContext(connection) as captured:
                    again = READS[name](True)
                if captured.captured_queries or again != values[name]:
                    not_stored.append(f"{name} (stored, not served)")
    finally:
        scope.end()
    assert not not_stored, f"warm-up did not store: {not_stored}"
    return values


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


def check(where: str, names: Iterable[str] = READS, *, all_hits: bool = False) -> dict[str, Any]:
    """Each cached read equals the uncached read made right after it; returns the latter."""
    wrong = []
    values = {}
    for name in names:
        if all_hits:
            with CaptureQueriesContext(connection) as captured:
                got = READS[name](True)
            if captured.captured_queries:
                wrong.append(f"{name}: not served from the cache")
        else:
            got = READS[name](True)
        values[name] = expected = READS[name](False)
        if got != expected:
            wrong.append(f"{name}: cached {short(got)} != uncached {short(expected)}")
    assert not wrong, f"{where}:\n  " + "\n  ".join(wrong)
    return values


# --- write kinds ---------------------------------------------------------------


def save_create(w: World) -> None:
    Book(title="epsilon", author=w.cid, pages=400).save()
    Author(name="dan").save()


def save_update(w: World) -> None:
    book = Book.objects.get(pk=w.alpha.pk)
    book.title, book.pages = "alpha2", 500
    book.save()


def save_update_related(w: World) -> None:
    author = Author.objects.get(pk=w.ann.pk)
    author.name = "anne"  # only the joined/filtered table changes
    author.save()


def delete_cascade(w: World) -> None:
    Author.objects.get(pk=w.ann.pk).delete()  # books, their reviews and tag links too


def delete_instance_fast(w: World) -> None:
    Plain.objects.get(value=1).delete()
    Review.objects.filter(book=w.gamma).get().delete()


def queryset_fast_delete(w: World) -> None:
    Plain.objects.filter(value__lte=2).delete()
    Review.objects.filter(stars__lt=3).delete()


def queryset_delete_cascade(w: World) -> None:
    Book.objects.filter(pages__gt=200).delete()  # reviews and tag links too


def queryset_update(w: World) -> None:
    Book.objects.filter(author__name="bob").update(pages=F("pages") + 1000)


def queryset_update_related(w: World) -> None:
    Author.objects.filter(pk=w.bob.pk).update(name="ann")
    Tag.objects.filter(pk=w.green.pk).update(name=Concat("name", Value("ish")))


def bulk_create(w: World) -> None:
    books = Book.objects.bulk_create(
        [Book(title="eta", author=w.cid, pages=210), Book(title="theta", author=w.bob, pages=5)]
    )
    Review.objects.bulk_create([Review(book=books[0], stars=5), Review(book=w.delta, stars=4)])
    Plain.objects.bulk_create([Plain(value=100)])


def bulk_update(w: World) -> None:
    books = list(Book.objects.order_by("pk"))
    for i, book in enumerate(books):
        book.pages += 10 * (i + 1)
    Book.objects.bulk_update(books, ["pages"])
    reviews = list(Review.objects.all())
    for review in reviews:
        review.stars = 5
    Review.objects.bulk_update(reviews, ["stars"], batch_size=2)


def m2m_add(w: World) -> None:
    w.gamma.tags.add(w.red, w.green)


def m2m_remove(w: World) -> None:
    w.alpha.tags.remove(w.red)


def m2m_clear(w: World) -> None:
    w.delta.tags.clear()


def m2m_set(w: World) -> None:
    w.alpha.tags.set([w.green])


def get_or_create(w: World) -> None:
    _, created = Author.objects.get_or_create(name="dan")
    assert created
    _, created = Book.objects.get_or_create(title="zeta", defaults={"author": w.cid, "pages": 260})
    assert created


def get_or_create_on_cached_queryset(w: World) -> None:
    _, created = Book.objects.cached().get_or_create(
        title="zeta", defaults={"author": w.bob, "pages": 800}
    )
    assert created


def update_or_create(w: World) -> None:
    _, created = Book.objects.update_or_create(title="gamma", defaults={"pages": 700})
    assert not created
    _, created = Tag.objects.update_or_create(name="purple", defaults={"name": "purple"})
    assert created


def raw_update(w: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_book SET pages = pages + 1 WHERE author_id = %s", [w.ann.pk])


def raw_quoted_lowercase(w: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute('update "testapp_author" set "name" = %s where "id" = %s', ["bob", w.ann.pk])


def raw_m2m_insert_delete(w: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM testapp_book_tags WHERE tag_id = %s", [w.red.pk])
        cursor.execute(
            "INSERT INTO testapp_book_tags (book_id, tag_id) VALUES (%s, %s)",
            [w.gamma.pk, w.blue.pk],
        )
        cursor.execute("DELETE FROM testapp_review WHERE stars = 5")


def raw_with_cte(w: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH big AS (SELECT id FROM testapp_book WHERE pages > 200) "
            "UPDATE testapp_book SET pages = 1 WHERE id IN (SELECT id FROM big)"
        )


def raw_truncate(w: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE testapp_review")


Write = Callable[[World], None]

WRITES: dict[str, Write] = {
    f.__name__: f
    for f in (
        save_create,
        save_update,
        save_update_related,
        delete_cascade,
        delete_instance_fast,
        queryset_fast_delete,
        queryset_delete_cascade,
        queryset_update,
        queryset_update_related,
        bulk_create,
        bulk_update,
        m2m_add,
        m2m_remove,
        m2m_clear,
        m2m_set,
        get_or_create,
        get_or_create_on_cached_queryset,
        update_or_create,
        raw_update,
        raw_quoted_lowercase,
        raw_m2m_insert_delete,
        raw_with_cte,
        *([raw_truncate] if connection.vendor == "postgresql" else []),
    )
}


def inner_broad_write(w: World) -> None:
    """A different write touching every table, for savepoints that roll back."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_author SET name = 'zed'")
    Book.objects.update(pages=F("pages") + 3)
    Tag.objects.bulk_create([Tag(name="inner")])
    Book.tags.through.objects.all().delete()
    Review(book=w.gamma, stars=5).save()
    Plain.objects.all().delete()


class Rollback(Exception):
    pass


# --- scenarios --------------------------------------------------------------------
# Each runs one write kind from a world whose read shapes are stored in the
# cache, and checks the shapes the write changes (the autocommit scenario
# checks them all and notes which ones changed: a shape the write leaves alone
# cannot be stale, so the others check only those).

_changed: dict[str, list[str]] = {}


def start(names: Sequence[str] = tuple(READS)) -> tuple[World, dict[str, Any]]:
    reset()
    world = build_world()
    return world, warm(names)


def autocommit(name: str) -> None:
    world, before = start()
    WRITES[name](world)
    after = check("after the autocommit write")
    _changed[name] = [shape for shape in READS if before[shape] != after[shape]]


def changed_shapes(name: str) -> list[str]:
    """The read shapes whose result write ``name`` changes (a dry run unless known)."""
    if name not in _changed:
        reset()
        world = build_world()
        before = snapshot()
        WRITES[name](world)
        after = snapshot()
        _changed[name] = [shape for shape in READS if before[shape] != after[shape]]
    return _changed[name]


def inside_atomic(name: str) -> None:
    """Write and read inside the block (read your own write), then read after the commit."""
    names = changed_shapes(name)
    world, _ = start(names)
    with transaction.atomic():
        WRITES[name](world)
        check("inside the atomic block, after the write", names)
    check("after the commit", names)


def inside_savepoint(name: str) -> None:
    """The write in a nested block (a savepoint, released), the reads in the outer one.

    Django wraps many writes in atomic blocks of its own (delete(), bulk_create(),
    m2m changes, get_or_create()): inside a transaction those are released
    savepoints, and the tables they wrote stay written by the transaction.
    """
    names = changed_shapes(name)
    world, _ = start(names)
    with transaction.atomic():
        with transaction.atomic():
            WRITES[name](world)
        check("in the outer block, after the savepoint holding the write was released", names)


def savepoint_rolled_back(name: str) -> None:
    """The write in the outer block, a different one in a savepoint that rolls back."""
    names = changed_shapes(name)
    world, _ = start(names)
    with transaction.atomic():
        WRITES[name](world)
        with pytest.raises(Rollback), transaction.atomic():
            inner_broad_write(world)
            raise Rollback
        check("in the outer block, after the savepoint rolled back", names)
    check("after the outer commit", names)


@pytest.mark.parametrize(
    "scenario", [autocommit, inside_atomic, inside_savepoint, savepoint_rolled_back]
)
def test_cached_reads_equal_uncached_reads(scenario: Callable[[str], None]) -> None:
    """One scenario for every write kind (one test per scenario: each test costs a flush)."""
    failures = []
    for name in WRITES:
        try:
            scenario(name)
        except AssertionError as exc:
            failures.append(f"[{name}] {exc}")
    assert not failures, "\n".join(failures)


def test_cached_reads_after_rollbacks_equal_uncached_reads() -> None:
    """Each write kind made and read inside a block that rolls back, then read after it.

    A rollback leaves the world and every stored entry as they were, so one
    world serves every write kind in turn: after each rollback, every read is
    served from the cache and returns what it returned before the block.
    """
    names_by_write = {name: changed_shapes(name) for name in WRITES}
    failures = []
    world: World | None = None
    before: dict[str, Any] = {}
    for name, names in names_by_write.items():
        if world is None:  # first, or after a failure that may have left bad entries
            world, before = start()
        try:
            with pytest.raises(Rollback), transaction.atomic():
                WRITES[name](world)
                check("inside the block that will roll back", names)
                raise Rollback
            after = check("after the rollback", names, all_hits=True)
            assert after == {shape: before[shape] for shape in names}
        except AssertionError as exc:
            failures.append(f"[{name}] {exc}")
            world = None
    assert not failures, "\n".join(failures)


def test_the_matrix_is_not_vacuous() -> None:
    """Every read shape is served from the cache once stored; every write kind changes
    several of them; the savepoint's write changes every table."""
    build_world()
    warm(prove_hits=True)
    too_few = {name: changed_shapes(name) for name in WRITES if len(changed_shapes(name)) < 3}
    assert not too_few
    reset()
    world = build_world()
    before = snapshot()
    inner_broad_write(world)
    after = snapshot()
    for shape in ("authors", "select_related", "plain", "prefetch_m2m", "annotate_m2m"):
        assert before[shape] != after[shape], shape
    assert before["aggregate_join"] != after["aggregate_join"]


def test_reads_around_savepoints() -> None:
    """Reads inside a savepoint that rolls back, in the outer block after it and after
    the commit; then reads after a released savepoint and one more write."""
    world, _ = start()
    with transaction.atomic():
        save_update(world)
        with pytest.raises(Rollback), transaction.atomic():
            inner_broad_write(world)
            check("inside the savepoint")
            raise Rollback
        check("in the outer block, after the savepoint rolled back")
    check("after the outer commit")

    world, _ = start()
    with transaction.atomic():
        with transaction.atomic():
            inner_broad_write(world)
        check("in the outer block, after the savepoint was released")
        save_create(world)
        check("in the outer block, after one more write")
    check("after the outer commit")


# --- Prefetch() objects ---------------------------------------------------------------


def author_tagged_books(tag: str, cached: bool, to_attr: str | None = None) -> Any:
    lookup = Prefetch("books", queryset=Book.objects.filter(tags__name=tag), to_attr=to_attr)
    authors = q(Author.objects.prefetch_related(lookup).order_by("pk"), cached)
    return [
        (a.pk, sorted(b.title for b in (getattr(a, to_attr) if to_attr else a.books.all())))
        for a in authors
    ]


def test_prefetch_objects_are_served_from_the_cache_and_invalidated() -> None:
    """A ``Prefetch("books", queryset=...)`` lookup is as cacheable as the string lookup,
    and its entry is invalidated by writes to the tables its queryset reads."""
    world = build_world()

    def same() -> bool:
        return author_tagged_books("red", cached=True) == author_tagged_books("red", cached=False)

    assert same()
    world.gamma.tags.add(world.red)  # the through table, read only by the Prefetch queryset
    assert same()
    Tag.objects.filter(pk=world.red.pk).update(name="crimson")  # read only by its filter
    assert same()
    assert author_tagged_books("red", cached=False) == [
        (world.ann.pk, []),
        (world.bob.pk, []),
        (world.cid.pk, []),
    ]
    first = author_tagged_books("crimson", cached=True)
    with CaptureQueriesContext(connection) as captured:
        assert author_tagged_books("crimson", cached=True) == first
    assert not captured.captured_queries, "a read with a Prefetch() lookup is never a hit"


def test_prefetch_objects_with_different_querysets_or_attributes_are_different_entries() -> None:
    world = build_world()
    # Rounds after the first are served from the cache; alternating lookups that
    # are dropped at once also lets a new Prefetch reuse a dropped one's address.
    for _ in range(4):
        assert author_tagged_books("red", cached=True) == [
            (world.ann.pk, ["alpha"]),
            (world.bob.pk, ["delta"]),
            (world.cid.pk, []),
        ]
        assert author_tagged_books("blue", cached=True) == [
            (world.ann.pk, ["alpha", "beta"]),
            (world.bob.pk, []),
            (world.cid.pk, []),
        ]
        for attr in ("red_books", "crimson_books"):
            assert author_tagged_books("red", cached=True, to_attr=attr) == [
                (world.ann.pk, ["alpha"]),
                (world.bob.pk, ["delta"]),
                (world.cid.pk, []),
            ]


def test_prefetch_objects_with_prefetches_of_their_own_are_invalidated() -> None:
    """Django runs the lookups of a Prefetch queryset's own prefetch_related() too."""
    world = build_world()

    def read(cached: bool) -> Any:
        lookup = Prefetch("books", queryset=Book.objects.prefetch_related("tags"))
        authors = q(Author.objects.prefetch_related(lookup).order_by("pk"), cached)
        return [
            (a.pk, sorted((b.pk, sorted(t.name for t in b.tags.all())) for b in a.books.all()))
            for a in authors
        ]

    assert read(True) == read(False)
    world.gamma.tags.add(world.green)  # only the nested prefetch reads the through table
    assert read(True) == read(False)
    Tag.objects.filter(pk=world.green.pk).update(name="teal")  # and the tag table
    assert read(True) == read(False)


# --- tables a read or a write names in less common ways --------------------------------


def test_extra_tables_are_read_tables() -> None:
    """``extra(tables=...)`` lists tables after a comma: ``FROM "a" , "b"``."""
    world = build_world()

    def read(cached: bool) -> list[str]:
        queryset = Author.objects.extra(
            tables=["testapp_book"],
            where=["testapp_book.author_id = testapp_author.id", "testapp_book.pages > 500"],
        ).order_by("pk")
        return list(q(queryset, cached).values_list("name", flat=True))

    assert read(True) == read(False) == []
    Book.objects.filter(pk=world.gamma.pk).update(pages=900)  # writes only the listed table
    assert read(True) == read(False) == ["bob"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_truncate_cascade_invalidates_the_tables_it_empties() -> None:
    """``TRUNCATE a CASCADE`` also empties every table referencing ``a``."""
    build_world()
    warm(["authors", "select_related", "prefetch_m2m", "aggregate_join"])
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE testapp_author CASCADE")  # books, their tags and reviews too
    check(
        "after TRUNCATE ... CASCADE",
        ["authors", "select_related", "prefetch_m2m", "aggregate_join"],
    )


# --- DDL ----------------------------------------------------------------------------

PROBE = "perfkit_ddl_probe"


def _probe_contents() -> tuple[list[str], list[tuple[Any, ...]]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {PROBE} ORDER BY id")
        return [col[0] for col in cursor.description], [tuple(row) for row in cursor.fetchall()]


probe_contents = cached_function(depends_on=[PROBE])(_probe_contents)


def _ddl(*statements: str) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def test_ddl_statements_invalidate() -> None:
    for scenario in ("autocommit", "inside_atomic", "after_rollback"):
        _ddl(f"CREATE TABLE {PROBE} (id integer PRIMARY KEY, v integer)")
        try:
            ddl_scenario(scenario)
        finally:
            _ddl(f"DROP TABLE IF EXISTS {PROBE}")


def ddl_scenario(scenario: str) -> None:
    _ddl(f"INSERT INTO {PROBE} (id, v) VALUES (1, 10)")
    before = probe_contents()
    assert before == (["id", "v"], [(1, 10)])
    with CaptureQueriesContext(connection) as captured:
        assert probe_contents() == before
    assert not captured.captured_queries, "not stored"

    def alter() -> None:
        _ddl(f"ALTER TABLE {PROBE} ADD COLUMN w integer DEFAULT 7")

    if scenario == "autocommit":
        alter()
        assert probe_contents() == _probe_contents() == (["id", "v", "w"], [(1, 10, 7)])
        _ddl(f"DROP TABLE {PROBE}", f"CREATE TABLE {PROBE} (id integer PRIMARY KEY, x integer)")
        assert probe_contents() == _probe_contents() == (["id", "x"], [])
    elif scenario == "inside_atomic":
        with transaction.atomic():
            alter()
            assert probe_contents() == _probe_contents()
        assert probe_contents() == _probe_contents() == (["id", "v", "w"], [(1, 10, 7)])
    else:
        with pytest.raises(Rollback), transaction.atomic():
            alter()
            assert probe_contents() == _probe_contents()
            raise Rollback
        with CaptureQueriesContext(connection) as captured:
            assert probe_contents() == _probe_contents() == before
        assert len(captured.captured_queries) == 1  # the uncached one only
