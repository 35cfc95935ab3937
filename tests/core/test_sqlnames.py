from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from perfkit import sqlnames
from perfkit.sqlnames import canonical, isolation_change, read_tables, written_tables
from tests.testapp.models import Author, Book, Plain, Review

WRITES = [
    # case folding, schemas, quotes
    ("UPDATE SHOP_BOOK SET title = 'x'", {"shop_book"}),
    ('UPDATE "shop_book" SET title = %s', {"shop_book"}),
    ('UPDATE "Shop_Book" SET title = %s', {"shop_book"}),
    ("UPDATE public.shop_book SET title = %s", {"shop_book"}),
    ('DELETE FROM "public"."shop_book"', {"shop_book"}),
    ("DELETE FROM `shop_book`", {"shop_book"}),
    ("DELETE FROM [dbo].[Shop_Book]", {"shop_book"}),
    ('INSERT INTO "Public"."MyTable" ("a") VALUES (%s)', {"mytable"}),
    # ONLY
    ("UPDATE ONLY t SET a = 1", {"t"}),
    ("DELETE FROM ONLY t WHERE a = 1", {"t"}),
    ("UPDATE ONLY t * SET a = 1", {"t"}),
    # leading comments and whitespace
    ("/* request 7 */ DELETE FROM t", {"t"}),
    ("-- a note\n  \n\tUPDATE t SET a = 1", {"t"}),
    ("/* a */ -- b\n /* c */ INSERT INTO t VALUES (1)", {"t"}),
    # writable CTEs
    ("WITH x AS (SELECT 1) UPDATE t SET a = 1", {"t"}),
    ("WITH x AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM x", {"a", "b"}),
    (
        "WITH RECURSIVE x(n) AS MATERIALIZED (UPDATE a SET n = 1 RETURNING n), "
        "y AS (INSERT INTO c VALUES (1) RETURNING 1) SELECT * FROM x, y",
        {"a", "c"},
    ),
    ("WITH x AS (SELECT id FROM a FOR UPDATE) SELECT * FROM x", set()),
    ("WITH x AS (SELECT 1) DELETE FROM t USING x", {"t"}),
    # dialect forms
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", {"t"}),
    ("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (a) VALUES (1)", {"t"}),
    ("INSERT OR REPLACE INTO t (a) VALUES (1)", {"t"}),
    ("INSERT OR IGNORE INTO t (a) VALUES (1)", {"t"}),
    ("INSERT IGNORE INTO t (a) VALUES (1)", {"t"}),
    ("REPLACE INTO t (a) VALUES (1)", {"t"}),
    ("UPDATE OR IGNORE t SET a = 1", {"t"}),
    ("UPDATE OR REPLACE t SET a = 1", {"t"}),
    ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = EXCLUDED.a", {"t"}),
    ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", {"t"}),
    ("INSERT INTO t (a) SELECT a FROM u", {"t"}),
    ("UPDATE t SET a = o.a FROM other o WHERE o.id = t.id", {"t"}),
    ("UPDATE t AS x SET a = (SELECT max(b) FROM u) WHERE x.id = 1", {"t"}),
    ("DELETE FROM t USING other WHERE t.id = other.id", {"t"}),
    ("DELETE FROM t WHERE id IN (SELECT id FROM t FOR UPDATE SKIP LOCKED)", {"t"}),
    # truncate and DDL
    ("TRUNCATE a, b", {"a", "b"}),
    ("TRUNCATE TABLE ONLY a", {"a"}),
    ('TRUNCATE "a", ONLY "b" RESTART IDENTITY CASCADE', {"a", "b"}),
    ("ALTER TABLE t ADD COLUMN x int", {"t"}),
    ("ALTER TABLE IF EXISTS ONLY t DROP COLUMN x", {"t"}),
    ("ALTER TABLE t RENAME TO u", {"t", "u"}),
    ('ALTER TABLE "new__t" RENAME TO "T"', {"new__t", "t"}),
    ("ALTER TABLE t RENAME COLUMN a TO b", {"t"}),
    ("ALTER TABLE t RENAME a TO b", {"t"}),
    ("DROP TABLE a", {"a"}),
    ("DROP TABLE IF EXISTS a, b CASCADE", {"a", "b"}),
    ("DROP VIEW IF EXISTS v", {"v"}),
    ("CREATE TABLE t (id int REFERENCES u (id))", {"t"}),
    ("CREATE TEMP TABLE IF NOT EXISTS t AS SELECT * FROM u", {"t"}),
    ("CREATE TEMPORARY TABLE t (id int)", {"t"}),
    ("CREATE OR REPLACE VIEW v AS SELECT * FROM u", {"v"}),
    ("CREATE INDEX i ON t (a)", set()),
    ("DROP INDEX i", set()),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", {"v"}),
    ("COPY t (a, b) FROM STDIN", {"t"}),
    ("COPY t TO STDOUT", set()),
    # several statements; the first is not a write
    ("SELECT 1; DELETE FROM t", {"t"}),
    ("SAVEPOINT s; UPDATE a SET x = 1; UPDATE b SET x = 1;", {"a", "b"}),
    # EXPLAIN runs the statement only with ANALYZE
    ("EXPLAIN ANALYZE DELETE FROM t", {"t"}),
    ("EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1", {"t"}),
    ("EXPLAIN DELETE FROM t", set()),
    ("EXPLAIN QUERY PLAN DELETE FROM t", set()),
    # keywords inside string literals do not count
    ("INSERT INTO t (a) VALUES ('x; DELETE FROM y')", {"t"}),
    ("INSERT INTO t (a) VALUES ('it''s; UPDATE y SET a = 1')", {"t"}),
    ("UPDATE t SET a = E'\\'; DROP TABLE y; --'", {"t"}),
    ("UPDATE t SET a = $$; DELETE FROM y$$", {"t"}),
    ("UPDATE t SET a = $q$ '; DELETE FROM y $q$", {"t"}),
    ("UPDATE t SET a = 1 /* ; DELETE FROM y */", {"t"}),
    ("UPDATE t SET a = 1 -- ; DELETE FROM y", {"t"}),
]

READS = [
    'SELECT "t"."id" FROM "t" WHERE "t"."a" = %s',
    "  select * from t",
    "SELECT * FROM t FOR UPDATE",
    'SELECT * FROM "t" FOR UPDATE OF "t" SKIP LOCKED',
    "SELECT * FROM t FOR NO KEY UPDATE NOWAIT",
    "SELECT 'DELETE FROM x'",
    "SELECT 'a;b'; SELECT 2",
    "(SELECT 1) UNION (SELECT 2)",
    "SAVEPOINT s1",
    'RELEASE SAVEPOINT "s1"',
    "ROLLBACK TO SAVEPOINT s1",
    "ROLLBACK",
    "COMMIT",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "SET TIME ZONE 'UTC'",
    "SET search_path = public",
    "SHOW TIME ZONE",
    "PRAGMA foreign_keys = ON",
    "PRAGMA table_info(t)",
    "EXPLAIN SELECT 1",
    "VALUES (1), (2)",
    "",
    "   ",
    "/* only a comment */",
]


@pytest.mark.parametrize(("sql", "expected"), WRITES)
def test_written_tables(sql: str, expected: set[str]) -> None:
    assert written_tables(sql) == expected


@pytest.mark.parametrize("sql", READS)
def test_reads_write_nothing(sql: str) -> None:
    assert written_tables(sql) == frozenset()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop_book", "shop_book"),
        ("SHOP_BOOK", "shop_book"),
        ('"Public"."MyTable"', "mytable"),
        ("public.t", "t"),
        ("`t`", "t"),
        ("[dbo].[T]", "t"),
        ('"t"', "t"),
    ],
)
def test_canonical(name: str, expected: str) -> None:
    assert canonical(name) == expected


def test_a_name_in_sql_is_the_canonical_form_of_the_table_name() -> None:
    """Whatever quoting a statement uses, it meets ``canonical(db_table)``."""
    for spelled in ('"Shop_Book"', "shop_book", "SHOP_BOOK", "public.Shop_Book", '"x"."Shop_Book"'):
        assert written_tables(f"DELETE FROM {spelled}") == {canonical("Shop_Book")}
        assert read_tables(f"SELECT 1 FROM {spelled}") == {canonical('"public"."Shop_Book"')}


def test_reads_are_answered_without_tokenizing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(sql: str) -> list[list[str]]:
        raise AssertionError(f"tokenized {sql!r}")

    monkeypatch.setattr(sqlnames, "_statements", fail)
    for sql in ('  /* x */ SELECT "a" FROM "b" WHERE "c" = %s', "SAVEPOINT x", "EXPLAIN SELECT 2"):
        assert written_tables(sql) == frozenset()
        assert isolation_change(sql) is None


def test_results_are_cached_and_the_cache_is_bounded() -> None:
    sql = "UPDATE cached_t SET a = 1"
    assert written_tables(sql) is written_tables(sql)
    assert read_tables(sql) is read_tables(sql)
    for n in range(5000):
        written_tables(f"DELETE FROM t WHERE id = {n}")
        read_tables(f"SELECT * FROM t WHERE id = {n}")
    assert len(sqlnames._written_cache) <= 4096
    assert len(sqlnames._read_cache) <= 4096


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "a"."id" FROM "a" WHERE "a"."x" = %s', {"a"}),
        ("select * from A join B on A.id = B.a_id", {"a", "b"}),
        ("SELECT * FROM a, b AS x, public.c y, `d` WHERE a.id = x.id", {"a", "b", "c", "d"}),
        # Django's extra(tables=[...]): listed after the joins
        (
            'SELECT "a"."id" FROM "a" INNER JOIN "b" ON ("a"."id" = "b"."a_id") , "c" '
            'WHERE "c"."x" = "a"."id"',
            {"a", "b", "c"},
        ),
        ('SELECT "a"."id" FROM "a" , "testapp_book" WHERE (x)', {"a", "testapp_book"}),
        (
            'SELECT * FROM "a" LEFT OUTER JOIN "b" ON ("a"."id" = "b"."a_id") '
            'INNER JOIN "c" ON ("b"."id" = "c"."b_id")',
            {"a", "b", "c"},
        ),
        # subqueries, at any depth
        (
            'SELECT * FROM "a" WHERE "a"."id" IN (SELECT U0."a_id" FROM "b" U0 '
            'WHERE EXISTS(SELECT 1 FROM "c" V0 WHERE V0."id" = U0."id"))',
            {"a", "b", "c"},
        ),
        (
            "SELECT * FROM (SELECT * FROM inner1) s JOIN LATERAL (SELECT 1 FROM b) q ON true",
            {"inner1", "b"},
        ),
        ("SELECT COUNT(*) FROM (SELECT DISTINCT a FROM t) subquery", {"t"}),
        ("WITH x AS (SELECT * FROM a) SELECT * FROM x", {"a", "x"}),
        ("SELECT * FROM ONLY t", {"t"}),
        # FROMs that are no table
        ('SELECT EXTRACT(YEAR FROM "t"."created") FROM "t"', {"t"}),
        ('SELECT EXTRACT(YEAR FROM ("t"."c" AT TIME ZONE \'UTC\')) FROM "t"', {"t"}),
        ("SELECT TRIM(BOTH 'x' FROM col), SUBSTRING(name FROM 2) FROM u", {"u"}),
        ("SELECT OVERLAY(a PLACING 'b' FROM 2 FOR 1) FROM u", {"u"}),
        ("SELECT a IS DISTINCT FROM b, c IS NOT DISTINCT FROM d FROM u", {"u"}),
        ("SELECT * FROM generate_series(1, 3) g, u", {"u"}),
        ("SELECT * FROM u ORDER BY a, b", {"u"}),
        ("SELECT * FROM u GROUP BY a, b HAVING count(*) > 1", {"u"}),
        # names inside literals and comments
        ("SELECT 'FROM evil, worse' FROM ok", {"ok"}),
        ("SELECT 1 FROM ok /* JOIN evil */ -- JOIN worse", {"ok"}),
        ("SELECT 1", set()),
    ],
)
def test_read_tables(sql: str, expected: set[str]) -> None:
    assert read_tables(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction"),
        ("set transaction isolation level read committed", "transaction"),
        ("BEGIN ISOLATION LEVEL REPEATABLE READ", "transaction"),
        ("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction"),
        ("START TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE", "transaction"),
        ("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", "transaction"),
        ("SET transaction_isolation = 'serializable'", "transaction"),
        ("SET LOCAL default_transaction_isolation = 'serializable'", "transaction"),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", "session"),
        ("SET default_transaction_isolation = 'serializable'", "session"),
        ("set default_transaction_isolation to 'repeatable read'", "session"),
        ("SET SESSION DEFAULT_TRANSACTION_ISOLATION TO DEFAULT", "session"),
        ("/* x */ SET SESSION default_transaction_isolation = 'serializable'", "session"),
        ("PRAGMA read_uncommitted = true", "session"),
        ("PRAGMA read_uncommitted", "session"),
        ("RESET default_transaction_isolation", "session"),
        ("SELECT 1; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction"),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; SET default_transaction_isolation = 'x'",
            "session",
        ),
        ("SELECT 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE'", None),
        ("SET TRANSACTION READ ONLY", None),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", None),
        ("SET TIME ZONE 'UTC'", None),
        ("BEGIN", None),
        ("PRAGMA foreign_keys = ON", None),
        ("SELECT 1", None),
        ("UPDATE t SET isolation = 1", None),
    ],
)
def test_isolation_change(sql: str, expected: str | None) -> None:
    assert isolation_change(sql) == expected


@pytest.mark.django_db
def test_unquoted_upper_case_names_write_the_case_folded_table() -> None:
    """The database folds ``TESTAPP_PLAIN`` onto the real table, and so does canonical()."""
    Plain.objects.create(value=1)
    sql = "UPDATE TESTAPP_PLAIN SET VALUE = VALUE + 1"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert cursor.rowcount == 1
    assert Plain.objects.get().value == 2
    assert written_tables(sql) == {canonical(Plain._meta.db_table)}


@pytest.mark.django_db
def test_the_orm_statements_name_the_model_tables() -> None:
    """Every statement Django runs for a write names its table; every read its tables."""
    book = canonical(Book._meta.db_table)
    with CaptureQueriesContext(connection) as captured:
        author = Author.objects.create(name="ann")
        Book.objects.create(title="t", author=author)
        Book.objects.filter(author__name="ann").update(pages=5)
        Book.objects.filter(pk__in=Book.objects.values("pk")).delete()
    written = {t for q in captured.captured_queries for t in written_tables(q["sql"])}
    # The delete collects the book's reviews and tag links in Python and deletes them too.
    assert written == {
        canonical(model._meta.db_table) for model in (Author, Book, Book.tags.through, Review)
    }
    with CaptureQueriesContext(connection) as captured:
        list(Book.objects.select_related("author").filter(tags__name="x"))
    (select,) = [q["sql"] for q in captured.captured_queries]
    assert written_tables(select) == frozenset()
    assert read_tables(select) == {
        book,
        canonical(Author._meta.db_table),
        canonical(Book.tags.through._meta.db_table),
        canonical("testapp_tag"),
    }
