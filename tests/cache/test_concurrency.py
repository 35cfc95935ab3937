"""Concurrent writers and cached readers on PostgreSQL: no read is stale.

Acceptance: several threads write and several read cached queries for a fixed
number of operations; every read that starts after a writer's outermost
``atomic()`` block (or autocommit statement) returned sees that write.

Each writer owns one book (its ``pages`` only ever grows: 1, 2, 3...) and
records when each write returned; a slow writer does the same with a
``Plain`` row, so reads of it are mostly served from the cache. Readers loop
over cached queries of several shapes (in autocommit and in READ COMMITTED
transactions) and record when each read started and what it saw. Afterwards
every read is checked against the last value each writer had returned
before that read started.
"""

from __future__ import annotations

import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Max, Sum

from perfkit.cache.querysets import CachedQuerySet
from perfkit.recording import scope
from tests.testapp.models import Author, Book, Plain, Review

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (PERFKIT_TEST_DATABASE_URL): SQLite serializes writers, "
        "and its transactions never store cached results",
    ),
    pytest.mark.django_db(transaction=True, available_apps=["tests.testapp"]),
]

WRITERS = 4
WRITES_EACH = 90
SLOW_WRITES = 20
READERS = 4
READS_EACH = 120


@dataclass
class Log:
    """Writes (per writer: value and return time, in order) and reads of one run."""

    returned: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    reads: list[tuple[float, str, dict[str, int] | int]] = field(default_factory=list)
    counters: list[dict[str, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, writer: str, value: int) -> None:
        at = time.monotonic()  # after the statement or the outermost block returned
        with self.lock:
            self.returned.setdefault(writer, []).append((at, value))

    def last_before(self, writer: str, start: float) -> int:
        """The last value ``writer`` had returned before ``start`` (0: none yet)."""
        entries = self.returned.get(writer, [])
        index = bisect_left(entries, (start, -1))
        return entries[index - 1][1] if index else 0


def run_thread(log: Log, body: Callable[[], None]) -> None:
    try:
        body()
    except BaseException as exc:
        with log.lock:
            log.errors.append(exc)
    finally:
        connections.close_all()


def write_book(mode: int, pk: int, value: int) -> None:
    """One write of ``value``, in one of several ways; returns once it is committed."""
    if mode == 0:  # autocommit QuerySet.update()
        Book.objects.filter(pk=pk).update(pages=value)
    elif mode == 1:  # an atomic block writing two tables
        with transaction.atomic():
            Book.objects.filter(pk=pk).update(pages=value)
            Review.objects.create(book_id=pk, stars=value % 5 + 1)
    elif mode == 2:  # save() of a locked row, the write in a nested block
        with transaction.atomic():
            book = Book.objects.select_for_update().get(pk=pk)
            book.pages = value
            with transaction.atomic():
                book.save(update_fields=["pages"])
    else:  # raw SQL in autocommit
        with connection.cursor() as cursor:
            cursor.execute("UPDATE testapp_book SET pages = %s WHERE id = %s", [value, pk])


def writer(log: Log, barrier: threading.Barrier, name: str, pk: int, seed: int) -> None:
    rng = random.Random(seed)
    barrier.wait()
    for value in range(1, WRITES_EACH + 1):
        write_book(value % 4, pk, value)
        log.wrote(name, value)
        time.sleep(rng.uniform(0, 0.004))


def slow_writer(log: Log, barrier: threading.Barrier, pk: int) -> None:
    barrier.wait()
    for value in range(1, SLOW_WRITES + 1):
        time.sleep(0.015)
        with transaction.atomic():
            Plain.objects.filter(pk=pk).update(value=value)
        log.wrote("plain", value)


def read_pages() -> dict[str, int]:
    return dict(Book.objects.cached().filter(title__startswith="w").values_list("title", "pages"))


def read_pages_joined() -> dict[str, int]:
    return {
        book.author.name: book.pages
        for book in Book.objects.cached().select_related("author").filter(title__startswith="w")
    }


def read_pages_annotated() -> dict[str, int]:
    return dict(
        Author.objects.cached()
        .filter(name__startswith="w")
        .annotate(pages=Max("books__pages"))
        .values_list("name", "pages")
    )


def read_pages_in_transaction() -> dict[str, int]:
    with transaction.atomic():  # READ COMMITTED: results may be stored
        return read_pages()


def read_total() -> int:
    return (
        Book.objects.cached().filter(title__startswith="w").aggregate(total=Sum("pages"))["total"]
    )


def read_plain() -> dict[str, int]:
    return {"plain": CachedQuerySet(model=Plain).cached().get().value}


READ_SHAPES: list[tuple[str, Callable[[], Any]]] = [
    ("values_list", read_pages),
    ("select_related", read_pages_joined),
    ("annotate", read_pages_annotated),
    ("in_transaction", read_pages_in_transaction),
    ("aggregate", read_total),
    ("plain", read_plain),
    ("plain", read_plain),
]


def reader(log: Log, barrier: threading.Barrier, seed: int) -> None:
    rng = random.Random(seed)
    counters = scope.begin()
    barrier.wait()
    reads = []
    for _ in range(READS_EACH):
        kind, read = rng.choice(READ_SHAPES)
        start = time.monotonic()
        reads.append((start, kind, read()))
    scope.end()
    with log.lock:
        log.reads.extend(reads)
        log.counters.append(counters)


def stale_reads(log: Log, writers: list[str]) -> list[str]:
    stale = []
    for start, kind, seen in log.reads:
        if isinstance(seen, dict):
            for name, value in seen.items():
                if value < log.last_before(name, start):
                    stale.append(f"{kind}: {name}={value} < {log.last_before(name, start)}")
        elif seen < (expected := sum(log.last_before(name, start) for name in writers)):
            stale.append(f"{kind}: total {seen} < {expected}")
    return stale


def test_no_read_starting_after_a_write_returned_misses_it() -> None:
    names = [f"w{i}" for i in range(WRITERS)]
    books = {
        name: Book.objects.create(title=name, author=Author.objects.create(name=name), pages=0)
        for name in names
    }
    plain = Plain.objects.create(value=0)
    for _, read in READ_SHAPES:  # the readers' first reads may be hits too
        read()
    connections.close_all()  # the threads use their own connections; the flush reopens this one

    log = Log()
    barrier = threading.Barrier(WRITERS + 1 + READERS)
    bodies = [
        partial(writer, log, barrier, n, book.pk, i) for i, (n, book) in enumerate(books.items())
    ]
    bodies.append(partial(slow_writer, log, barrier, plain.pk))
    bodies += [partial(reader, log, barrier, 100 + i) for i in range(READERS)]
    threads = [threading.Thread(target=run_thread, args=(log, body)) for body in bodies]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - began
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert not log.errors, log.errors

    stale = stale_reads(log, names)
    totals = {
        event: sum(c.get(f"cache_{event}", 0) for c in log.counters)
        for event in ("hits", "misses", "stores", "bypasses", "errors")
    }
    writes = sum(len(entries) for entries in log.returned.values())
    last_write = max(at for entries in log.returned.values() for at, _ in entries)
    after_last_write = sum(1 for start, _, _ in log.reads if start > last_write)
    print(
        f"\nconcurrency: {WRITERS} writers + 1 slow writer, {READERS} readers, {elapsed:.2f} s: "
        f"{writes} writes, {len(log.reads)} reads ({after_last_write} after the last write), "
        f"cache hits {totals['hits']}, misses {totals['misses']}, stores {totals['stores']}, "
        f"bypasses {totals['bypasses']}, errors {totals['errors']}, stale reads {len(stale)}"
    )
    assert writes == WRITERS * WRITES_EACH + SLOW_WRITES
    assert len(log.reads) == READERS * READS_EACH
    assert not stale, stale[:20]
    assert totals["hits"] > READERS * READS_EACH // 10, totals
    assert totals["errors"] == 0

    # Once everything has returned, every shape serves the final values.
    final = {name: WRITES_EACH for name in names}
    assert read_pages() == read_pages_joined() == read_pages_annotated() == final
    assert read_total() == WRITERS * WRITES_EACH
    assert read_plain() == {"plain": SLOW_WRITES}
