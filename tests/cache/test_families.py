"""One regression test per family of wrong results found by independent testing.

Each test is the smallest deterministic case of its family; the differential
state machine (test_differential.py) covers their combinations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, FloatField, IntegerField, Sum
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from perfkit import observe
from perfkit.cache import api, fetch, versions
from perfkit.cache.querysets import check_cache_app_installed
from perfkit.writes import database_identity
from tests.conftest import ROOT, RedisServer, needs_redis
from tests.testapp.models import Author, Book, DiffNote, DiffPublisher, DiffPublisherProxy
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True)
not_postgresql = connection.vendor != "postgresql"
postgresql_only = pytest.mark.skipif(not_postgresql, reason="PostgreSQL's isolation levels")


def served(read: Callable[[], Any]) -> tuple[Any, int]:
    """The value of ``read()`` and how many queries it ran."""
    with CaptureQueriesContext(connection) as captured:
        value = read()
    return value, len(captured.captured_queries)


def warm(read: Callable[[], Any]) -> Any:
    """Evaluate ``read`` until it is served from the cache; its value."""
    for _ in range(3):
        value, queries = served(read)
        if not queries:
            return value
    raise AssertionError("never served from the cache")


# 1. Raw SQL table names --------------------------------------------------------

RAW_WRITES = [
    "UPDATE TESTAPP_BOOK SET pages = 7",
    "/* a comment */ UPDATE testapp_book SET pages = 7",
    '-- a comment\n  update "testapp_book" set pages = 7',
    "\n\t UPDATE Testapp_Book SET pages = 7",
    "WITH x AS (SELECT 1) UPDATE testapp_book SET pages = 7",
    "UPDATE testapp_book SET title = 'it''s DELETE FROM x', pages = 7",
]
POSTGRES_RAW_WRITES = [
    "UPDATE ONLY testapp_book SET pages = 7",
    "UPDATE public.testapp_book SET pages = 7",
    'UPDATE "public"."testapp_book" SET pages = 7',
    "WITH w AS (UPDATE testapp_book SET pages = 7 RETURNING id) SELECT count(*) FROM w",
    "SELECT 1; UPDATE testapp_book SET pages = 7",
    "MERGE INTO testapp_book b USING (SELECT 1) s ON true WHEN MATCHED THEN UPDATE SET pages = 7",
]


@pytest.mark.parametrize(
    "sql",
    RAW_WRITES
    + [
        pytest.param(sql, marks=pytest.mark.skipif(not_postgresql, reason="PostgreSQL's SQL"))
        for sql in POSTGRES_RAW_WRITES
    ],
)
def test_raw_sql_writes_in_any_spelling_invalidate(sql: str) -> None:
    author = Author.objects.create(name="ann")
    Book.objects.create(title="b", author=author, pages=1)
    read = lambda: list(Book.objects.cached().values_list("pages", flat=True))  # noqa: E731
    assert warm(read) == [1]
    with connection.cursor() as cursor:
        cursor.execute(sql)
    assert read() == [7]


# 2. Aggregates across relations ------------------------------------------------


def test_an_aggregate_across_a_relation_is_invalidated_by_the_joined_table() -> None:
    author = Author.objects.create(name="ann")
    book = Book.objects.create(title="b", author=author, pages=10)
    book.reviews.create(stars=4)
    read = lambda: Author.objects.cached().aggregate(n=Sum("books__reviews__stars"))  # noqa: E731
    assert warm(read) == {"n": 4}
    book.reviews.create(stars=1)  # writes only testapp_review
    assert read() == {"n": 5}


def test_a_count_of_an_annotated_queryset_is_invalidated_by_the_joined_table() -> None:
    author = Author.objects.create(name="ann")
    Book.objects.create(title="b", author=author, pages=10)
    read = lambda: Author.objects.cached().filter(books__pages__gt=50).count()  # noqa: E731
    assert warm(read) == 0
    Book.objects.update(pages=60)
    assert read() == 1


def test_a_process_that_did_not_learn_a_join_still_checks_its_table() -> None:
    """Another process stored the entry with the learned table; this one knows only the SQL's."""
    author = Author.objects.create(name="ann")
    book = Book.objects.create(title="b", author=author, pages=10)
    book.reviews.create(stars=4)
    read = lambda: Author.objects.cached().aggregate(n=Sum("books__reviews__stars"))  # noqa: E731
    assert warm(read) == {"n": 4}
    fetch._learned.clear()  # a fresh process
    assert served(read) == ({"n": 4}, 0)
    book.reviews.create(stars=1)
    fetch._learned.clear()
    assert read() == {"n": 5}


# 3. Key collisions ---------------------------------------------------------------


def test_aggregates_differing_only_in_default_do_not_share_an_entry() -> None:
    assert warm(lambda: Book.objects.cached().aggregate(n=Sum("pages"))) == {"n": None}
    assert Book.objects.cached().aggregate(n=Sum("pages", default=0)) == {"n": 0}


def test_annotations_differing_only_in_output_field_keep_their_types() -> None:
    author = Author.objects.create(name="ann")
    Book.objects.create(title="b", author=author, pages=10)

    def read(output: Any) -> list[Any]:
        annotated = Book.objects.cached().annotate(
            p=ExpressionWrapper(F("pages"), output_field=output)
        )
        return list(annotated.values_list("p", flat=True))

    assert [type(v) for v in warm(lambda: read(FloatField()))] == [float]
    assert [type(v) for v in read(IntegerField())] == [int]


def test_a_proxy_and_its_concrete_model_do_not_share_entries() -> None:
    DiffPublisher.objects.create(name="p")
    assert [type(p) for p in warm(lambda: list(DiffPublisher.objects.cached()))] == [DiffPublisher]
    assert [type(p) for p in DiffPublisherProxy.objects.cached()] == [DiffPublisherProxy]


# 4. Related managers -------------------------------------------------------------


def test_a_related_manager_hit_carries_the_current_parent() -> None:
    author = Author.objects.create(name="old")
    Book.objects.create(title="b", author=author)
    assert warm(lambda: [b.author.name for b in author.books.cached()]) == ["old"]
    author.name = "new"
    author.save()  # writes testapp_author only: the books entry stays fresh
    books, queries = served(lambda: list(author.books.cached()))
    assert queries == 0
    assert books[0].author is author
    assert books[0].author.name == "new"


# 5. Commit ordering --------------------------------------------------------------


def test_on_commit_callbacks_registered_before_the_write_see_it() -> None:
    Author.objects.create(name="v1")
    read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
    assert warm(read) == ["v1"]
    seen: list[list[str]] = []
    with transaction.atomic():
        transaction.on_commit(lambda: seen.append(read()))  # queued before the write
        Author.objects.update(name="v2")
    assert seen == [["v2"]]


# 6. Manual transactions ----------------------------------------------------------


def test_a_manual_transaction_bumps_at_commit_and_never_on_rollback() -> None:
    Author.objects.create(name="v1")
    read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
    assert warm(read) == ["v1"]
    transaction.set_autocommit(False)
    try:
        Author.objects.update(name="v2")
        assert read() == ["v2"]  # own uncommitted write: bypasses the cache
        transaction.rollback()
        assert served(read) == (["v1"], 0)  # rolled back: the entry is still right
        Author.objects.update(name="v3")
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert read() == ["v3"]
    assert warm(read) == ["v3"]  # stored again after the commit


# 7. Isolation changed by raw SQL -----------------------------------------------------


@postgresql_only
def test_raw_repeatable_read_results_are_not_stored() -> None:
    Author.objects.create(name="v1")
    read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert read() == ["v1"]
        assert read() == ["v1"]
    assert served(read)[1] == 1  # nothing was stored under REPEATABLE READ


@postgresql_only
def test_a_session_isolation_change_stops_stores_in_transactions() -> None:
    Author.objects.create(name="v1")
    read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    try:
        with transaction.atomic():
            read()
            assert served(read)[1] == 1
    finally:
        connection.close()  # the session setting ends with the connection


# 8. Generic prefetches ------------------------------------------------------------


def test_a_generic_prefetch_is_invalidated_by_its_targets_tables() -> None:
    author = Author.objects.create(name="ann")
    book = Book.objects.create(title="old", author=author)
    DiffNote.objects.create(
        content_type=ContentType.objects.get_for_model(Book), object_id=book.pk, text="n"
    )

    def read() -> list[str]:
        notes = DiffNote.objects.cached().prefetch_related("content_object").order_by("pk")
        return [note.content_object.title for note in notes]

    assert warm(read) == ["old"]
    Book.objects.update(title="new")  # writes only the target's table
    assert read() == ["new"]


# 9. clear() during an outage -------------------------------------------------------


def unreachable_cache() -> dict[str, object]:
    return {
        **settings.CACHES,
        "gone": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }


def test_clear_never_raises_when_the_cache_is_down() -> None:
    with override_settings(CACHES=unreachable_cache()), override_perfkit({"CACHE_ALIAS": "gone"}):
        Author.objects.create(name="a")  # its bump fails
        assert api.clear() is False
        assert versions.pending_bumps()  # still owed
        assert Author.objects.cached().count() == 1
    versions.forget_failed_bumps()


@needs_redis
def test_clear_during_an_outage_lands_before_anything_is_served(own_redis: RedisServer) -> None:
    caches = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{own_redis.port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        },
    }
    Author.objects.create(name="a")
    with override_settings(CACHES=caches), override_perfkit({"CACHE_ALIAS": "shared"}):
        read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
        assert warm(read) == ["a"]
        raw = redis.Redis(port=own_redis.port)
        raw.execute_command("CLIENT", "PAUSE", 1200, "ALL")  # every command times out
        assert api.clear() is False
        time.sleep(1.3)  # the cache answers again, still holding the old entry
        assert served(read) == (["a"], 1)  # the reset landed first: the entry is not served
        assert not versions._namespace_pending
        assert served(read) == (["a"], 0)


# 10. .cached() without perfkit.cache ---------------------------------------------------


def test_cached_without_the_cache_app_fails_loudly() -> None:
    listener = observe._listeners["perfkit.writes"]
    observe.remove_statement_listener("perfkit.writes")
    try:
        with pytest.raises(ImproperlyConfigured, match=r"perfkit\.cache"):
            Author.objects.cached()
    finally:
        observe.add_statement_listener("perfkit.writes", listener)
    apps_without = [a for a in settings.INSTALLED_APPS if a != "perfkit.cache"]
    with override_settings(INSTALLED_APPS=apps_without):
        errors = check_cache_app_installed()
    assert [e.id for e in errors] == ["perfkit_cache.E002"]
    assert "testapp.Author" in errors[0].msg and "testapp.Book" in errors[0].msg
    assert check_cache_app_installed() == []
    assert "perfkit_cache.E002" not in [m.id for m in checks.run_checks(tags=["perfkit"])]


# 11. Keys belong to a database, not an alias ---------------------------------------------


def test_the_same_alias_on_another_database_has_another_identity() -> None:
    config = connection.settings_dict
    here = database_identity("default")
    name = config["NAME"]
    config["NAME"] = f"{name}_elsewhere"
    try:
        elsewhere = database_identity("default")
    finally:
        config["NAME"] = name
    assert elsewhere != here == database_identity("default")
    assert database_identity("other") == here  # a test mirror shares its primary's


@needs_redis
def test_two_projects_on_one_redis_never_share_entries(tmp_path: Path) -> None:
    """A second settings module: the same alias and table on another database, same Redis."""
    Author.objects.create(name="v1")
    read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
    script = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from tests.testapp.models import Author\n"
        "with connection.schema_editor() as editor: editor.create_model(Author)\n"
        "Author.objects.create(name='v99')\n"
        "for _ in range(3): print(list(Author.objects.cached().values_list('name', flat=True)))\n"
    )
    for run in range(2):  # the other project caches its rows, then this one reads
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PERFKIT_TEST_DATABASE_URL": "",  # the other project: SQLite, same Redis
            "PERFKIT_TEST_WORKER_DB": str(tmp_path / f"other{run}.sqlite3"),
            "PYTHONPATH": str(ROOT),
        }
        child = subprocess.run(
            [sys.executable, "-c", script],
            check=False,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert child.returncode == 0, child.stderr
        assert child.stdout.splitlines()[-1] == "['v99']"
        assert read() == ["v1"]
