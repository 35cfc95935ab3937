"""The child processes of ``orm_cache.py``.

:func:`prepare` migrates and seeds the database. :func:`serve` runs one tool:
it sets Django up with that tool's settings and then answers the parent's
commands over a pipe (run a batch of one operation in one variant, profile,
break perfkit's hit down, stop). Only one child works at a time; the others
wait on their pipe.

Variants: ``uncached`` is the plain queryset in the tool's own process (the
tool installed, not asked to cache; for django-cachalot, which caches every
query, inside ``cachalot_disabled()``); ``cached`` is the tool's cached
queryset (perfkit ``.cached()``, cachalot's implicit caching, cacheops
``.cache()``); ``manual`` (bare process only) is a hand-written
``cache.get`` of the evaluated result, ``cache.set`` on a miss and
``cache.delete_many`` of the keys a write touches.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import statistics
import time
from array import array
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.harness import answer_calls
from benchmarks.orm_cache_project import common

SETTINGS_MODULE = "benchmarks.orm_cache_project.settings"

READS = ("list", "count", "get")
WRITES = ("save+get", "update+list")
OPERATIONS = (*READS, *WRITES)
VARIANTS = {
    "bare": ("uncached", "manual"),
    "perfkit": ("uncached", "cached"),
    "cachalot": ("uncached", "cached"),
    "cacheops": ("uncached", "cached"),
}


def _setup_django(tool: str) -> None:
    os.environ["ORM_CACHE_BENCH_TOOL"] = tool
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup(set_prefix=False)


# Preparation --------------------------------------------------------------


def prepare(conn: Connection) -> None:
    """Migrate and seed once (run in a child with the ``setup`` settings)."""
    try:
        _setup_django("setup")
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        conn.send(("ok", {"seeded": _seed()}))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


def _seed() -> bool:
    from django.db import transaction

    from benchmarks.orm_cache_project.models import Author, Book, Publisher

    if (
        Publisher.objects.count() == common.PUBLISHERS
        and Author.objects.count() == common.AUTHORS
        and Book.objects.count() == common.BOOKS
    ):
        return False
    with transaction.atomic():
        Book.objects.all().delete()
        Author.objects.all().delete()
        Publisher.objects.all().delete()
        cities = ["Lyon", "Osaka", "Lagos", "Santiago", "Montreal"]
        publishers = Publisher.objects.bulk_create(
            Publisher(name=f"Publisher {i:02d}", city=cities[i % len(cities)])
            for i in range(common.PUBLISHERS)
        )
        countries = ["France", "Japan", "Nigeria", "Chile", "Canada"]
        authors = Author.objects.bulk_create(
            Author(name=f"Author {i:03d}", country=countries[i % len(countries)])
            for i in range(common.AUTHORS)
        )
        start = date(2000, 1, 1)
        Book.objects.bulk_create(
            Book(
                title=f"the collected works, volume {i}",
                author=authors[(i * 7) % common.AUTHORS],
                publisher=publishers[i % common.PUBLISHERS],
                isbn=f"978{i:010d}",
                price=Decimal(5 + (i * 37) % 60) + Decimal("0.99"),
                pages=90 + (i * 53) % 700,
                published=start + timedelta(days=(i * 97) % 8000),
                featured=i % 50 == 0,
            )
            for i in range(common.BOOKS)
        )
    return True


# Counting queries and Redis round trips -----------------------------------


class Counters:
    """SQL statements and Redis round trips of this process, counted from outside the tools.

    Statements: an execute wrapper on the connection (called only when SQL
    really runs). Round trips: redis-py's ``send_packed_command``, which every
    command and every pipeline goes through once (cacheops' Lua scripts too).
    Both cost well under a microsecond per event, in every setup alike.
    """

    def __init__(self) -> None:
        from redis.connection import AbstractConnection

        self.queries = 0
        self.round_trips = 0
        send = AbstractConnection.send_packed_command

        def counted_send(connection: Any, command: Any, check_health: bool = True) -> Any:
            self.round_trips += 1
            return send(connection, command, check_health)

        AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]

    def wrapper(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        """The execute wrapper: counts, then runs the statement."""
        self.queries += 1
        return execute(sql, params, many, context)

    def snapshot(self) -> tuple[int, int]:
        return self.queries, self.round_trips


# The operations -----------------------------------------------------------


class Bench:
    """One tool's operations, in its variants, on the shared data."""

    def __init__(self, tool: str) -> None:
        from django.core.cache import cache
        from django.db import connection

        from benchmarks.orm_cache_project.models import Book, Publisher

        self.tool = tool
        self.cache = cache
        self.Book = Book
        self.counters = Counters()
        connection.ensure_connection()
        self.connection = connection
        self.publisher = Publisher.objects.order_by("id").values_list("id", flat=True)[0]
        shelf = list(
            Book.objects.filter(publisher_id=self.publisher)
            .order_by("published", "id")
            .values_list("id", flat=True)
        )
        if len(shelf) != common.BOOKS // common.PUBLISHERS:
            raise RuntimeError(f"publisher {self.publisher} has {len(shelf)} books, not 50")
        # (c) reads a book of the shelf; each tool writes books of its own, so
        # one process's writes never make another process's entries stale.
        index = tuple(VARIANTS).index(tool)
        self.get_pk = shelf[-1]
        self.save_pk = shelf[2 * index]
        self.update_pk = shelf[2 * index + 1]
        self.saved = Book.objects.get(pk=self.save_pk)  # the instance (d) saves
        self.edits = 0
        self.list_key = f"bench:list:{self.publisher}"
        self.count_key = f"bench:count:{self.publisher}"

    # Querysets of each variant

    def books(self, variant: str) -> Any:
        if variant == "cached" and self.tool == "perfkit":
            return self.Book.objects.cached()
        if variant == "cached" and self.tool == "cacheops":
            return self.Book.objects.cache()
        return self.Book.objects.all()  # cachalot caches this one implicitly

    @contextlib.contextmanager
    def variant_context(self, variant: str) -> Iterator[None]:
        if self.tool == "cachalot" and variant == "uncached":
            from cachalot.api import cachalot_disabled

            with cachalot_disabled():
                yield
        else:
            yield

    def shelf(self, variant: str) -> list[Any]:
        return list(
            self.books(variant)
            .select_related("author", "publisher")
            .filter(publisher_id=self.publisher)
            .order_by("published", "id")
        )

    def reader(self, operation: str, variant: str) -> Callable[[], Any]:
        """A call that reads ``operation``'s result (the write ops' read half)."""
        publisher, pk = self.publisher, self.get_pk
        if variant == "manual":
            return self.manual_reader(operation)
        if operation in ("list", "update+list"):
            return lambda: self.shelf(variant)
        if operation == "count":
            return lambda: self.books(variant).filter(publisher_id=publisher).count()
        if operation == "get":
            return lambda: self.books(variant).get(pk=pk)
        if operation == "save+get":
            save_pk = self.save_pk
            return lambda: self.books(variant).get(pk=save_pk)
        raise ValueError(operation)

    def manual_reader(self, operation: str) -> Callable[[], Any]:
        cache, timeout = self.cache, common.TIMEOUT

        def cached(key: str, compute: Callable[[], Any]) -> Any:
            value = cache.get(key)
            if value is None:
                value = compute()
                cache.set(key, value, timeout)
            return value

        list_key, count_key = self.list_key, self.count_key
        uncached = self.reader(operation, "uncached")
        if operation in ("list", "update+list"):
            return lambda: cached(list_key, uncached)
        if operation == "count":
            return lambda: cached(count_key, uncached)
        pk = self.get_pk if operation == "get" else self.save_pk
        book_key = f"bench:book:{pk}"
        return lambda: cached(book_key, uncached)

    def writer(self, operation: str, variant: str) -> Callable[[str], None]:
        """A call writing a new title: ``save()`` of an instance or ``QuerySet.update()``."""
        Book, cache = self.Book, self.cache
        if operation == "save+get":
            book = self.saved
            keys = [f"bench:book:{book.pk}", self.list_key]

            def write(title: str) -> None:
                book.title = title
                book.save()
                if variant == "manual":
                    cache.delete_many(keys)

            return write
        pk = self.update_pk
        keys = [f"bench:book:{pk}", self.list_key]

        def update(title: str) -> None:
            Book.objects.filter(pk=pk).update(title=title)
            if variant == "manual":
                cache.delete_many(keys)

        return update

    def written_title(self, operation: str, result: Any) -> str:
        if operation == "save+get":
            return str(result.title)
        for book in result:
            if book.pk == self.update_pk:
                return str(book.title)
        raise RuntimeError(f"book {self.update_pk} missing from the shelf")

    # Batches

    def run(self, operation: str, variant: str, count: int) -> dict[str, Any]:
        """Run ``count`` timed calls of ``operation`` in ``variant``; return times and counts."""
        if variant not in VARIANTS[self.tool]:
            raise ValueError(f"{self.tool} has no variant {variant!r}")
        clock = time.perf_counter_ns
        times = array("q", bytes(8 * count))
        result: dict[str, Any] = {"stale": 0, "checked": 0}
        read = self.reader(operation, variant)
        with self.connection.execute_wrapper(self.counters.wrapper), self.variant_context(variant):
            first = read()  # untimed: the entry exists before the first timed call
            start_counts = self.counters.snapshot()
            cpu = time.thread_time_ns()
            if operation in READS:
                for index in range(count):
                    start = clock()
                    value = read()
                    times[index] = clock() - start
                self.check(operation, first)
                self.check(operation, value)
            else:
                write = self.writer(operation, variant)
                write_times = array("q", bytes(8 * count))
                for index in range(count):
                    self.edits += 1
                    title = f"{self.tool} {variant} edit {os.getpid()}.{self.edits}"
                    start = clock()
                    write(title)
                    middle = clock()
                    value = read()
                    end = clock()
                    times[index] = end - start
                    write_times[index] = middle - start
                    result["checked"] += 1
                    if self.written_title(operation, value) != title:
                        result["stale"] += 1
                result["write_times"] = write_times.tobytes()
            result["cpu_ns"] = time.thread_time_ns() - cpu
            queries, round_trips = self.counters.snapshot()
        result["times"] = times.tobytes()
        result["queries"] = queries - start_counts[0]
        result["round_trips"] = round_trips - start_counts[1]
        return result

    def check(self, operation: str, value: Any) -> None:
        """The read returned what the operation asks for (the data never changes size)."""
        shelf = common.BOOKS // common.PUBLISHERS
        if operation == "list":
            ok = len(value) == shelf and all(book.publisher.pk == self.publisher for book in value)
        elif operation == "count":
            ok = value == shelf
        else:
            ok = value.pk == self.get_pk
        if not ok:
            raise RuntimeError(f"{self.tool} {operation}: wrong result {value!r}")

    # Diagnostics

    def profile(self, operation: str, variant: str, count: int, top: int) -> str:
        """cProfile of ``count`` calls of a read, the top functions by own and total time."""
        read = self.reader(operation, variant)
        with self.variant_context(variant):
            read()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(count):
                read()
            profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs()
        out.write(f"-- by own time (tottime), {count} calls\n")
        stats.sort_stats("tottime").print_stats(top)
        out.write(f"-- by cumulative time, {count} calls\n")
        stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()

    def breakdown(self, count: int) -> dict[str, Any]:
        """perfkit only: its hits part by part, and one proposed change measured (see below).

        Uses perfkit's internals (its key plan, version keys, the volatile
        check); if they changed, the error is returned instead of numbers.
        """
        try:
            return self._breakdown(count)
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _breakdown(self, count: int) -> dict[str, Any]:
        """Median µs of each part, timed in turn sample after sample (so noise is shared).

        Proposal 1: perfkit's volatile-function check, a regular expression
        run over the whole SQL on every hit, memoized per SQL string the way
        its table list already is; swapped in around the call only. Proposal
        2: the entry's value pickled apart, so that an outdated entry (every
        read after a write fetches one) is found outdated without unpickling
        its rows; timed as a ``get_many`` of such an entry.
        """
        import pickle

        from django_redis import get_redis_connection

        from perfkit.cache import keys, stats, versions
        from perfkit.cache.fetch import Entry
        from perfkit.writes import database_identity

        original = keys._VOLATILE
        memo: dict[str, Any] = {}

        class MemoizedVolatile:
            @staticmethod
            def search(sql: str) -> Any:
                try:
                    return memo[sql]
                except KeyError:
                    found = memo[sql] = original.search(sql)
                    return found

        def memoized(func: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                keys._VOLATILE = MemoizedVolatile
                try:
                    return func()
                finally:
                    keys._VOLATILE = original

            return call

        def build() -> Any:
            return (
                self.Book.objects.cached()
                .select_related("author", "publisher")
                .filter(publisher_id=self.publisher)
                .order_by("published", "id")
            )

        self.shelf("cached")
        queryset = build()
        sql, _params = keys.compile_queryset(queryset)
        plan, _shape, tables, _label = queryset._cache_plan("rows")
        database = database_identity("default")
        key = keys.entry_key(database, *plan)
        token_keys = [
            versions.NAMESPACE_KEY,
            *(versions.version_key(database, table) for table in sorted(tables)),
        ]
        cache = versions.backend()
        raw_keys = [cache.make_key(k) for k in (key, *token_keys)]  # type: ignore[attr-defined]
        client = get_redis_connection("default")
        raw_entry = client.get(raw_keys[0])
        if raw_entry is None:
            raise RuntimeError("the list's entry is not in Redis")
        entry = cache.get(key)
        if not isinstance(entry, Entry):
            raise RuntimeError(f"the list's entry is a {type(entry).__name__}, not an Entry")
        # Proposal 2's entry: the same Entry, its value pickled apart (bytes).
        nested_key = f"{key}:nested"
        cache.set(
            nested_key,
            Entry(pickle.dumps(entry.value, 5), entry.tables, entry.versions, entry.namespace),
        )
        list_hit = self.reader("list", "cached")
        count_hit = self.reader("count", "cached")
        get_hit = self.reader("get", "cached")
        parts: dict[str, Callable[[], Any]] = {
            "list: build the queryset": build,
            "list: build + compile (Django as_sql)": lambda: (
                build().query.get_compiler(using="default").as_sql()
            ),
            "list: volatile-function regex on its SQL": lambda: original.search(sql),
            "list: build + perfkit _cache_plan": lambda: build()._cache_plan("rows"),
            "list: entry_key (hash of the plan)": lambda: keys.entry_key(database, *plan),
            "list: cache.get_many (entry + tokens)": lambda: cache.get_many([key, *token_keys]),
            "list: raw MGET of the same keys": lambda: client.mget(raw_keys),
            "list: pickle.loads of the entry": lambda: pickle.loads(raw_entry),
            "list: pickle.dumps of the entry (a store)": lambda: pickle.dumps(entry),
            "list: get_many, value pickled apart": lambda: cache.get_many(
                [nested_key, *token_keys]
            ),
            "stats.count (one hit counted)": lambda: stats.count("hits", "bench"),
            "list uncached": self.reader("list", "uncached"),
            "count uncached": self.reader("count", "uncached"),
            "get uncached": self.reader("get", "uncached"),
        }
        # Proposal 1 is measured in pairs (as is, memoized; the order alternating)
        # so that the saving is a median of paired differences.
        pairs = {
            operation: (hit, memoized(hit))
            for operation, hit in (("list", list_hit), ("count", count_hit), ("get", get_hit))
        }
        samples, paired = time_in_turn(parts, pairs, max(1, count // 10))
        cache.delete(nested_key)
        result: dict[str, Any] = {
            name: statistics.median(times) / 1000 for name, times in samples.items()
        }
        for operation, (now, then) in paired.items():
            result[f"{operation} hit"] = statistics.median(now) / 1000
            result[f"{operation} hit, volatile check memoized"] = statistics.median(then) / 1000
            saved = [a - b for a, b in zip(now, then, strict=True)]
            result[f"{operation} hit, saved (median of pairs)"] = statistics.median(saved) / 1000
        result["sizes"] = (len(sql), len(raw_entry), len(tables) + 2)
        return result

    def info(self) -> dict[str, Any]:
        from django.conf import settings

        return {"pid": os.getpid(), "apps": list(settings.INSTALLED_APPS), "versions": versions()}

    def errors(self) -> dict[str, Any]:
        """perfkit's own error counters (cache errors fall back silently otherwise)."""
        if self.tool != "perfkit":
            return {}
        from perfkit.recording import errors

        return {name: (s.count, s.last_message) for name, s in errors.snapshot().items()}


def time_in_turn(
    parts: dict[str, Callable[[], Any]],
    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]],
    rounds: int,
) -> tuple[dict[str, list[int]], dict[str, tuple[list[int], list[int]]]]:
    """Nanoseconds of each call: per round, ten calls of each part, then ten of each pair."""
    samples: dict[str, list[int]] = {name: [] for name in parts}
    paired: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in pairs}
    for func in parts.values():
        func()
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, func in parts.items():
            for _ in range(10):
                start = clock()
                func()
                samples[name].append(clock() - start)
        for name, funcs in pairs.items():
            for index in range(10):
                for which in (index % 2, 1 - index % 2):
                    start = clock()
                    funcs[which]()
                    paired[name][which].append(clock() - start)
    return samples, paired


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    names = ("Django", "django-redis", "redis", "psycopg", "django-cachalot", "django-cacheops")
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def serve(tool: str, conn: Connection) -> None:
    """Serve ``tool``'s operations on the parent's commands until told to stop."""
    try:
        _setup_django(tool)
        from django.conf import settings

        if settings.TOOL != tool:
            raise RuntimeError(f"settings were loaded for {settings.TOOL!r}, not {tool!r}")
        bench = Bench(tool)
        conn.send(("ready", bench.info()))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    commands: dict[str, Callable[..., Any]] = {
        "run": bench.run,
        "profile": bench.profile,
        "breakdown": bench.breakdown,
        "errors": bench.errors,
    }
    answer_calls(conn, commands)
