"""The PostgreSQL COPY path writes exactly the bytes of the iterator path."""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, models
from django.test import override_settings

from perfkit.exports.columns import resolve_columns
from perfkit.exports.copy import can_copy, copy_csv
from perfkit.exports.formats import format_float
from perfkit.exports.writers import CsvWriter
from tests.exports.conftest import ALL_NAMES, COPY_NAMES, make_rows, needs_postgres, parse_csv
from tests.testapp.models import ExportRow

pytestmark = pytest.mark.django_db


def both_paths(
    queryset: models.QuerySet[Any], names: list[str], tmp_path: Path
) -> tuple[bytes, bytes, int]:
    """(COPY file, iterator file, row count), checking both paths count the same."""
    columns = resolve_columns(queryset.model, names)
    assert can_copy(queryset, columns)
    copied = tmp_path / "copy.csv"
    count = copy_csv(queryset, columns, copied)
    iterated = tmp_path / "iterator.csv"
    with CsvWriter(iterated, columns) as writer:
        writer.write_header()
        rows = queryset.values_list(*names).iterator(chunk_size=2000)
        assert writer.write_rows(rows) == count
    return copied.read_bytes(), iterated.read_bytes(), count


def test_can_copy_only_on_postgresql() -> None:
    columns = resolve_columns(ExportRow, COPY_NAMES)
    assert can_copy(ExportRow.objects.all(), columns) is (connection.vendor == "postgresql")


@needs_postgres
def test_copy_and_iterator_paths_write_identical_bytes(tmp_path: Path) -> None:
    """NULLs, unicode, quotes and newlines, decimals, booleans, aware datetimes,
    floats and formula-looking strings, with a column across a foreign key."""
    created = make_rows()
    queryset = ExportRow.objects.order_by("author__name", "-id")
    copied, iterated, count = both_paths(queryset, COPY_NAMES, tmp_path)
    assert count == len(created)
    assert copied == iterated
    rows = parse_csv(copied.decode("utf-8"))
    assert len(rows) == count + 1
    titles = [row[3] for row in rows[1:]]
    assert None in titles and "" in titles  # NULL and "" differ
    assert "'=cmd|' /C calc'!A0" in titles and "'\rcmd|' /C calc'!A0" in titles
    assert "Zoë 😀 漢字 \u202ertl" in titles and "line1\nline2" in titles
    assert {row[7] for row in rows[1:]} >= {"1.50", "-0.01", "99999999.99", "0.00", "-12.30"}
    assert {row[8] for row in rows[1:]} == {"true", "false"}
    assert {row[9] for row in rows[1:]} == {"true", "false", None}
    assert "2024-07-01T10:00:00.000000Z" in {row[10] for row in rows[1:]}
    assert {"NaN", "Infinity", "-Infinity", "-0", "1e+15", "5e-324"} <= {
        row[13] for row in rows[1:]
    }
    names = [row[2] for row in rows[1:]]
    assert names == sorted(names, key=lambda name: name.lstrip("'"))  # the order carried over


@needs_postgres
def test_filters_parameters_and_percent_signs_carry_over(tmp_path: Path) -> None:
    make_rows()
    queryset = (
        ExportRow.objects.filter(count__lte=-3, title__contains="%")
        .union(ExportRow.objects.filter(title__startswith="="))
        .order_by("-id")
    )
    copied, iterated, count = both_paths(queryset, ["id", "title", "count"], tmp_path)
    assert (copied, count) == (iterated, 2)
    # No parameters at all, and a literal % in the SQL (Django escapes it as %%).
    unparameterized = ExportRow.objects.extra(where=["body NOT LIKE '%%zz%%'"]).order_by("id")
    copied, iterated, count = both_paths(unparameterized, ["id", "body"], tmp_path)
    assert copied == iterated
    assert count == ExportRow.objects.count() - 1
    # DISTINCT ordered by a column it does not export: Django adds it to the SELECT.
    distinct = ExportRow.objects.distinct().order_by("author__name", "big")
    copied, iterated, count = both_paths(distinct, ["title", "active"], tmp_path)
    assert (copied, count) == (iterated, ExportRow.objects.count())


@needs_postgres
def test_empty_and_single_column_exports(tmp_path: Path) -> None:
    make_rows()
    copied, iterated, count = both_paths(ExportRow.objects.none(), COPY_NAMES, tmp_path)
    assert (copied, count) == (iterated, 0)
    assert copied.count(b"\n") == 1
    copied, iterated, count = both_paths(ExportRow.objects.order_by("id"), ["title"], tmp_path)
    assert copied == iterated
    assert b'\n"\\."\n' in copied  # quoted like PostgreSQL does in one-column files


@needs_postgres
def test_what_copy_refuses() -> None:
    queryset = ExportRow.objects.all()
    assert not can_copy(queryset, resolve_columns(ExportRow, ALL_NAMES))  # JSON
    with override_settings(USE_TZ=False):
        assert not can_copy(queryset, resolve_columns(ExportRow, ["created"]))
    assert can_copy(queryset, resolve_columns(ExportRow, ["day", "at"]))


@needs_postgres
def test_float_text_matches_postgresql_float8_output() -> None:
    generator = random.Random(20240601)
    values = [struct.unpack("<d", generator.randbytes(8))[0] for _ in range(20000)]
    values = [value for value in values if math.isfinite(value)]
    values += [generator.uniform(-1e6, 1e6) for _ in range(5000)]
    # Halfway cases, where Python's repr and PostgreSQL's Ryu differ, live above 2**53.
    values += [float(generator.randrange(2**53, 2**72)) for _ in range(20000)]
    values += [-float(generator.randrange(2**53, 2**56)) for _ in range(5000)]
    values += [2.0**exponent for exponent in range(-1074, 1024)]
    values += [10.0**exponent for exponent in range(-323, 309)]
    values += [1.5 * 10.0**exponent for exponent in range(-20, 20)]
    values += [float(2**53 + 2), float(2**53), 0.1 + 0.2, -0.0, 5e-324, math.inf, -math.inf]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v::text FROM unnest(%s::float8[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [values],
        )
        expected = [row[0] for row in cursor.fetchall()]
    mismatches = [
        (value, text, format_float(value))
        for value, text in zip(values, expected, strict=True)
        if format_float(value) != text
    ]
    assert not mismatches[:10]
    assert format_float(math.nan) == "NaN"
