"""The admin's Database page: N+1 fingerprints, pool, pg_stat_statements, index hints."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, connections
from django.test import Client

from perfkit import api
from perfkit.operations import dbinsights, indexhints
from tests.metrics.helpers import line_of
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

URL = "/admin/perfkit/databaseinsights/"
RECORD_ALL = {"RECORDER_FLUSH_INTERVAL": 0}

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL statistics views"
)


def _make_books() -> None:
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(20))
    Book.objects.bulk_create(Book(title=f"b{i}", author=a) for i, a in enumerate(authors))


def _flush() -> None:
    assert api.flush()
    api.drain(include_current=True)


@pytest.mark.django_db
@override_perfkit(RECORD_ALL)
def test_page_lists_n_plus_one_fingerprints_with_their_call_site(
    client: Client, admin_user: User
) -> None:
    _make_books()
    for _ in range(3):
        assert client.get("/n-plus-one/").status_code == 200
    _flush()

    found = dbinsights.top_n_plus_ones()
    assert len(found) == 1
    line = line_of("tests/testapp/views.py", "# N+1: one author query per book")
    assert found[0].site == f"tests/testapp/views.py:{line} in n_plus_one"
    assert "testapp_author" in found[0].sql
    assert (found[0].runs, found[0].queries) == (3, 60)
    # Book.author and ExportRow.author both lead to the author table: the call
    # site's line (book.author.name) says which one this is.
    assert found[0].fix.code == 'Book.objects.select_related("author")'

    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"tests/testapp/views.py:{line} in n_plus_one" in page
    assert "Book.objects.select_related(&quot;author&quot;)" in page
    if connection.vendor == "sqlite":
        assert 'id="perfkit-postgres-only"' in page
        assert "Connection pooling applies to PostgreSQL only" in page
    else:
        assert "Top statements by total time" in page and "Index hints" in page


@pytest.mark.django_db
def test_page_needs_staff_and_its_permission(client: Client, django_user_model: type[User]) -> None:
    assert client.get(URL).status_code == 302  # anonymous: to the login page
    staff = django_user_model.objects.create_user("s", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_databaseinsights"))
    assert client.get(URL).status_code == 200


@pytest.mark.django_db(databases=["default", "other"])
def test_unknown_database_alias_is_a_message_not_an_error(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.get(URL, {"db": "nope"})
    assert response.status_code == 200
    assert "There is no database alias “nope”" in response.content.decode()
    assert response.context["alias"] == "default"
    response = client.get(URL, {"db": "other"})
    assert response.context["alias"] == "other"


@on_postgres
@pytest.mark.django_db
def test_pool_figures_of_a_pooled_connection() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper

    assert dbinsights.pool_figures(connection) is None  # the tests' connection has no pool
    settings = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 4}},
    }
    pooled = DatabaseWrapper(settings, alias="perfkit_pool_probe")
    try:
        pooled.ensure_connection()
        pooled.pool.wait(timeout=10)  # min_size connections are opened in the background
        busy = dbinsights.pool_figures(pooled)
        assert busy is not None
        assert (busy["min"], busy["max"], busy["in_use"]) == (2, 4, 1)
        assert busy["size"] >= 1 and busy["waiting"] == 0
        pooled.close()  # returns the connection to the pool
        idle = dbinsights.pool_figures(pooled)
        assert idle is not None and idle["in_use"] == 0 and idle["idle"] == idle["size"] >= 1
    finally:
        pooled.close()
        pooled.close_pool()


def _pg_stat_statements_preloaded() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_preload_libraries")
        return "pg_stat_statements" in cursor.fetchone()[0]


@on_postgres
@pytest.mark.django_db
def test_top_statements_from_pg_stat_statements_or_a_hint() -> None:
    if not _pg_stat_statements_preloaded():
        if os.environ.get("PERFKIT_TEST_PG_STAT_STATEMENTS") == "required":
            pytest.fail("pg_stat_statements must be preloaded here (.ci/run sets it up)")
        pytest.skip("pg_stat_statements is not in shared_preload_libraries")
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    missing = dbinsights.top_statements("default")
    assert missing.rows == [] and "is not installed" in missing.unavailable
    assert "CREATE EXTENSION pg_stat_statements" in missing.hint

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION pg_stat_statements")
        for _ in range(3):
            cursor.execute("SELECT count(*) AS perfkit_probe_statement FROM testapp_book")
    try:
        found = dbinsights.top_statements("default", limit=500)
        assert not found.unavailable
        probe = [row for row in found.rows if "perfkit_probe_statement" in row["query"]]
        assert len(probe) == 1 and probe[0]["calls"] == 3
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP EXTENSION pg_stat_statements")


def _require_pg_stat_statements() -> bool:
    """Whether pg_stat_statements can be created here (fails when .ci/run says it must)."""
    if _pg_stat_statements_preloaded():
        return True
    if os.environ.get("PERFKIT_TEST_PG_STAT_STATEMENTS") == "required":
        pytest.fail("pg_stat_statements must be preloaded here (.ci/run sets it up)")
    return False


@pytest.fixture
def scanned_table() -> Iterator[str]:
    """A 2,000-row table scanned 25 times on an unindexed column, with an unused index."""
    statements = _require_pg_stat_statements()
    with connection.cursor() as cursor:
        if statements:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            # The page reads the 200 costliest statements: the whole suite's, run
            # before, would crowd these cheap scans out.
            cursor.execute("SELECT pg_stat_statements_reset()")
        cursor.execute(
            "CREATE TABLE perfkit_probe_customer (id serial PRIMARY KEY, city text, code text)"
        )
        cursor.execute("CREATE INDEX perfkit_probe_customer_code ON perfkit_probe_customer (code)")
        cursor.execute(
            "INSERT INTO perfkit_probe_customer (city, code) "
            "SELECT 'city' || (i % 50), 'c' || i FROM generate_series(1, 2000) i"
        )
        for i in range(25):
            cursor.execute(
                'SELECT count(*) FROM "perfkit_probe_customer" '
                'WHERE "perfkit_probe_customer"."city" = %s',
                [f"city{i}"],
            )
        cursor.execute(  # filtered on the primary key's column: no candidate
            "SELECT count(*) FROM perfkit_probe_customer WHERE perfkit_probe_customer.id = 1"
        )
        cursor.execute("SELECT pg_stat_force_next_flush()")
    try:
        yield "perfkit_probe_customer"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE perfkit_probe_customer")
            cursor.execute("DROP EXTENSION IF EXISTS pg_stat_statements")


@on_postgres
@pytest.mark.django_db(transaction=True)  # statistics are flushed when the session goes idle
def test_index_hints_and_unused_indexes(
    scanned_table: str, client: Client, admin_user: User
) -> None:
    hints = indexhints.index_hints("default")
    assert not hints.unavailable
    row = next(row for row in hints.rows if row["table"] == scanned_table)
    assert row["seq_scan"] >= 25 and row["idx_scan"] <= 1
    assert row["rows_per_scan"] >= 1000 and row["size_bytes"] > 0
    assert row["suggested"] == []  # no statements given: no column named
    unused = dbinsights.unused_indexes("default")
    assert "perfkit_probe_customer_code" in {row["index"] for row in unused.rows}
    assert "perfkit_probe_customer_pkey" not in {row["index"] for row in unused.rows}

    client.force_login(admin_user)
    response = client.get(URL)
    page = response.content.decode()
    assert "public.perfkit_probe_customer" in page
    assert "perfkit_probe_customer_code" in page
    if _pg_stat_statements_preloaded():
        # The page searched pg_stat_statements: the scans filter on city, which
        # no index starts with (id leads the primary key), so city is the candidate.
        shown = next(r for r in response.context["index_hints"].rows if r["table"] == scanned_table)
        assert shown["suggested"] == ["city"]
        assert "<code>city</code>" in page


@on_postgres
@pytest.mark.django_db
def test_a_failing_statistics_read_is_a_message_and_keeps_the_transaction() -> None:
    section = dbinsights.read_section(
        "default", lambda cursor: dbinsights.fetch_rows(cursor, "SELECT nope")
    )
    assert section.rows == [] and section.unavailable.startswith("Could not read it:")
    assert Author.objects.count() == 0  # the outer transaction is still usable
    assert connections["default"].vendor == "postgresql"


def test_filtered_columns_are_read_from_where_clauses() -> None:
    statements = [
        'SELECT "shop_customer"."id" FROM "shop_customer" WHERE "shop_customer"."city" = %s',
        'SELECT COUNT(*) FROM "shop_customer"',  # no WHERE: nothing to index
        "SELECT * FROM shop_customer WHERE shop_customer.email IN ($1, $2) "
        "AND shop_customer.city = $3",
        'SELECT "shop_order"."id" FROM "shop_order" INNER JOIN "shop_customer" ON '
        '("shop_order"."customer_id" = "shop_customer"."id") WHERE "shop_order"."status" = $1',
    ]
    assert indexhints.filtered_columns("shop_customer", statements) == ["city", "email"]
    assert indexhints.filtered_columns("shop_order", statements) == ["status"]


def test_unqualified_columns_count_only_when_the_statement_reads_the_table_alone() -> None:
    alone = "SELECT * FROM shop_customer WHERE city = $1 AND lower(email) = $2 AND 1 = 1"
    joined = "SELECT * FROM shop_customer JOIN shop_order ON true WHERE status = $1"
    assert indexhints.filtered_columns("shop_customer", [alone]) == ["city"]
    assert indexhints.filtered_columns("shop_customer", [joined]) == []
    # Only the table's real columns, when they are known.
    assert indexhints.filtered_columns("shop_customer", [alone], columns={"email"}) == []
