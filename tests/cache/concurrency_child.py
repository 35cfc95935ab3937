"""One writer or reader process of tests/cache/test_concurrency_processes.py.

Run as ``python -m tests.cache.concurrency_child RUN_DIR NAME``. The parent
sets ``DJANGO_SETTINGS_MODULE=tests.settings``, ``PERFKIT_TEST_WORKER_DB``
(the test database its pytest run created) and ``PERFKIT_TEST_RUN_DIR`` (so
the cache key prefix is the parent's), and writes ``RUN_DIR/plan.json``:
the rows each writer owns and the counts. The child touches
``RUN_DIR/NAME.ready`` once Django, the database and the cache are
connected, waits for ``RUN_DIR/go``, does its work and writes its log to
``RUN_DIR/NAME.json``:

- a writer: ``{"writes": [[monotonic time after the write returned, value], ...]}``;
- a reader: ``{"reads": [{"start", "kind", "seen", "hit", "sql"}, ...],
  "counters": {...}}``.

``time.monotonic()`` is CLOCK_MONOTONIC, one clock for every process on
Linux, so the parent compares times across processes.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# What one read saw: {"values": {writer: value}}, {"max": the largest book
# value} or {"count": [threshold, books at or above it]}.
Seen = dict[str, Any]

GO_TIMEOUT = 60.0


def book_values(books: dict[str, int]) -> Callable[[], Seen]:
    from tests.testapp.models import Book

    def read() -> Seen:
        rows = Book.objects.cached().filter(pk__in=books.values()).values_list("title", "pages")
        return {"values": dict(rows)}

    return read


def book_list(books: dict[str, int]) -> Callable[[], Seen]:
    from tests.testapp.models import Book

    def read() -> Seen:
        return {"values": {b.title: b.pages for b in Book.objects.cached().filter(title__in=books)}}

    return read


def book_get(books: dict[str, int], rng: random.Random) -> Callable[[], Seen]:
    from tests.testapp.models import Book

    def read() -> Seen:
        name = rng.choice(sorted(books))
        return {"values": {name: Book.objects.cached().get(pk=books[name]).pages}}

    return read


def book_max(books: dict[str, int]) -> Callable[[], Seen]:
    from django.db.models import Max

    from tests.testapp.models import Book

    def read() -> Seen:
        top = Book.objects.cached().filter(pk__in=books.values()).aggregate(top=Max("pages"))
        return {"max": top["top"]}

    return read


def book_count(books: dict[str, int], rng: random.Random, writes: int) -> Callable[[], Seen]:
    from tests.testapp.models import Book

    def read() -> Seen:
        # Thresholds from a small set, so several readers share the entries.
        threshold = rng.choice(range(writes // 6, writes + 1, max(1, writes // 6)))
        count = Book.objects.cached().filter(title__in=books, pages__gte=threshold).count()
        return {"count": [threshold, count]}

    return read


def plain_get(plain: dict[str, int]) -> Callable[[], Seen]:
    from perfkit.cache.querysets import CachedQuerySet
    from tests.testapp.models import Plain

    def read() -> Seen:
        return {
            "values": {
                name: CachedQuerySet(model=Plain).cached().get(pk=pk).value
                for name, pk in sorted(plain.items())
            }
        }

    return read


def in_atomic(read: Callable[[], Seen]) -> Callable[[], Seen]:
    from django.db import transaction

    def run() -> Seen:
        with transaction.atomic():  # READ COMMITTED: cached results may be stored
            return read()

    return run


def read_shapes(plan: dict[str, Any], rng: random.Random) -> list[tuple[str, Callable[[], Seen]]]:
    books: dict[str, int] = plan["books"]
    plain: dict[str, int] = plan["plain"]
    return [
        ("list", book_list(books)),
        ("values_list", book_values(books)),
        ("get", book_get(books, rng)),
        ("aggregate_max", book_max(books)),
        ("count", book_count(books, rng, plan["writes_each"])),
        ("plain_get", plain_get(plain)),
        ("plain_get", plain_get(plain)),
        ("atomic_values_list", in_atomic(book_values(books))),
        ("atomic_get", in_atomic(book_get(books, rng))),
        ("atomic_plain_get", in_atomic(plain_get(plain))),
    ]


def write(model: str, pk: int, value: int, mode: int) -> None:
    """One committed write of ``value``; returns after the commit (and the version bump)."""
    from django.db import transaction

    from tests.testapp.models import Book, Plain

    if model == "book":
        if mode == 0:  # autocommit QuerySet.update()
            Book.objects.filter(pk=pk).update(pages=value)
        elif mode == 1:  # autocommit save()
            book = Book.objects.get(pk=pk)
            book.pages = value
            book.save(update_fields=["pages"])
        elif mode == 2:  # update() inside an atomic block
            with transaction.atomic():
                Book.objects.filter(pk=pk).update(pages=value)
        else:  # save() of a locked row, in a nested block
            with transaction.atomic():
                book = Book.objects.select_for_update().get(pk=pk)
                book.pages = value
                with transaction.atomic():
                    book.save(update_fields=["pages"])
    elif mode in (0, 2):
        Plain.objects.filter(pk=pk).update(value=value)
    else:
        with transaction.atomic():
            row = Plain.objects.select_for_update().get(pk=pk)
            row.value = value
            row.save(update_fields=["value"])


def run_writer(plan: dict[str, Any], name: str) -> dict[str, Any]:
    model, pk = (
        ("book", plan["books"][name]) if name in plan["books"] else ("plain", plan["plain"][name])
    )
    rng = random.Random(plan["seeds"][name])
    pause: float = plan["writer_pause"]
    writes: list[tuple[float, int]] = []
    for value in range(1, plan["writes_each"] + 1):
        write(model, pk, value, rng.randrange(4))
        writes.append((time.monotonic(), value))
        time.sleep(rng.uniform(0, pause))
    return {"writes": writes}


def run_reader(plan: dict[str, Any], name: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from perfkit.cache import stats
    from perfkit.recording import scope

    rng = random.Random(plan["seeds"][name])
    shapes = read_shapes(plan, rng)
    pause: float = plan["reader_pause"]
    reads: list[dict[str, Any]] = []
    counters = scope.begin()
    try:
        for _ in range(plan["reads_each"]):
            kind, read = rng.choice(shapes)
            hits_before = counters.get("cache_hits", 0)
            with CaptureQueriesContext(connection) as captured:
                start = time.monotonic()
                seen = read()
            # BEGIN/COMMIT of the reader's own atomic() are logged too; they are not the read.
            sql = [
                q["sql"]
                for q in captured.captured_queries
                if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK")
            ]
            reads.append(
                {
                    "start": start,
                    "kind": kind,
                    "seen": seen,
                    "hit": not sql,
                    "counted_hit": counters.get("cache_hits", 0) > hits_before,
                    "sql": len(sql),
                }
            )
            time.sleep(rng.uniform(0, pause))
    finally:
        scope.end(counters)
    return {"reads": reads, "counters": stats.totals(counters)}


def main(run_dir: Path, name: str) -> None:
    if not os.environ.get("PERFKIT_TEST_WORKER_DB"):
        sys.exit("PERFKIT_TEST_WORKER_DB is not set: refusing to touch a non-test database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()

    from django.core.cache import cache
    from django.db import connection

    plan: dict[str, Any] = json.loads((run_dir / "plan.json").read_text())
    connection.ensure_connection()
    cache.get("perfkit-tests-concurrency-warmup")  # opens the Redis connection
    (run_dir / f"{name}.ready").touch()
    deadline = time.monotonic() + GO_TIMEOUT
    while not (run_dir / "go").exists():
        if time.monotonic() > deadline:
            sys.exit(f"{name}: no go after {GO_TIMEOUT} s")
        time.sleep(0.001)
    log = run_reader(plan, name) if name in plan["readers"] else run_writer(plan, name)
    connection.close()
    out = run_dir / f"{name}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(log))
    tmp.rename(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
