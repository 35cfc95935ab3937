"""EXPLAIN on demand: only single SELECTs, never a write left behind."""

from __future__ import annotations

import pytest
from django.db import connection

from perfkit.metrics import explain
from perfkit.metrics.explain import ExplainRefused
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

BOOKS_BY_AUTHOR = (
    'SELECT "testapp_book"."id", "testapp_book"."title" FROM "testapp_book" '
    'WHERE "testapp_book"."author_id" = %s'
)


def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plans (the PostgreSQL + Redis pass)")


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE "testapp_book" SET "title" = %s',
        'DELETE FROM "testapp_book"',
        'INSERT INTO "testapp_author" ("name") VALUES (%s)',
        'WITH gone AS (DELETE FROM "testapp_book" RETURNING id) SELECT * FROM gone',
        'SELECT 1; DELETE FROM "testapp_book"',
        "   ",
        "VACUUM",
    ],
)
def test_only_a_single_select_is_planned(sql: str) -> None:
    with pytest.raises(ExplainRefused):
        explain.explain("default", sql, None)


def test_unknown_alias_is_refused() -> None:
    with pytest.raises(ExplainRefused, match="not configured"):
        explain.explain("nowhere", "SELECT 1", None)


def test_plan_without_stored_parameters() -> None:
    plan = explain.explain("default", BOOKS_BY_AUTHOR, None)
    assert "testapp_book" in plan.text
    assert not plan.analyzed and plan.how


def test_plan_with_stored_parameters() -> None:
    author = Author.objects.create(name="a")
    params = explain.parse_params(repr((author.pk,)))
    assert params == (author.pk,)
    plan = explain.explain("default", BOOKS_BY_AUTHOR, params)
    assert "testapp_book" in plan.text and plan.how == "with the stored parameters"


def test_stored_parameters_that_cannot_be_rebuilt_are_not_used() -> None:
    assert explain.parse_params("(datetime.datetime(2026, 1, 1, 0, 0),)") is None
    assert explain.parse_params("__import__('os').system('true')") is None
    assert explain.parse_params("") is None


def test_analyze_needs_the_parameters() -> None:
    with pytest.raises(ExplainRefused, match="needs its parameters"):
        explain.explain("default", BOOKS_BY_AUTHOR, None, analyze=True)


def test_sequential_scan_of_a_big_table_is_highlighted() -> None:
    postgresql_only()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE perfkit_explain_big (id int, v text)")
        cursor.execute(
            "INSERT INTO perfkit_explain_big SELECT g, 'x' FROM generate_series(1, 50000) g"
        )
        cursor.execute("ANALYZE perfkit_explain_big")
    try:
        plan = explain.explain("default", "SELECT * FROM perfkit_explain_big WHERE v = %s", None)
        costly = [line for line in plan.lines if line.costly]
        assert costly and costly[0].table == "perfkit_explain_big"
        assert plan.how.startswith("generic plan")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE perfkit_explain_big")


def test_analyze_runs_read_only_and_rolled_back() -> None:
    postgresql_only()
    author = Author.objects.create(name="a")
    Book.objects.create(title="t", author=author)
    plan = explain.explain("default", BOOKS_BY_AUTHOR, (author.pk,), analyze=True)
    assert plan.analyzed and "actual time" in plan.text
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION perfkit_explain_writes() RETURNS int LANGUAGE sql AS "
            "$$ INSERT INTO testapp_author (name) VALUES ('written') RETURNING 1 $$"
        )
    try:
        with pytest.raises(ExplainRefused, match="read-only"):
            explain.explain("default", "SELECT perfkit_explain_writes()", (), analyze=True)
        with pytest.raises(ExplainRefused, match="read-only"):
            explain.explain("default", "SELECT nextval('testapp_author_id_seq')", (), analyze=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION perfkit_explain_writes()")
    assert not Author.objects.filter(name="written").exists()
    assert Author.objects.create(name="next").pk == author.pk + 1


def test_analyze_is_cancelled_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    postgresql_only()
    monkeypatch.setattr(explain, "ANALYZE_TIMEOUT_MS", 200)
    with pytest.raises(ExplainRefused, match="timeout"):
        explain.explain("default", "SELECT pg_sleep(5)", (), analyze=True)


def test_sqlite_has_no_analyze() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with pytest.raises(ExplainRefused, match="SQLite"):
        explain.explain("default", "SELECT 1", (), analyze=True)


def test_sqlite_highlights_full_scans_of_big_tables_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE perfkit_explain_big (id integer primary key, v text)")
        cursor.execute(
            "INSERT INTO perfkit_explain_big (id, v) WITH RECURSIVE n(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i, 'x' FROM n"
        )
    try:
        big = explain.explain("default", "SELECT * FROM perfkit_explain_big WHERE v = %s", None)
        small = explain.explain("default", 'SELECT * FROM "testapp_book" WHERE "title" = %s', None)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE perfkit_explain_big")
    assert [line.table for line in big.lines if line.costly] == ["perfkit_explain_big"]
    assert not [line for line in small.lines if line.costly]
