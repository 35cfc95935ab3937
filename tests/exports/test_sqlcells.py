"""The iterator path lets the database format timestamps (and, on PostgreSQL, other
costly cells) as the format table's text: same bytes, no datetime objects."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections, models
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from perfkit.exports import engine
from perfkit.exports.columns import resolve_columns
from perfkit.exports.copy import copy_csv
from perfkit.exports.formats import format_datetime
from perfkit.exports.sqlcells import formatted_values
from perfkit.exports.writers import get_writer
from tests.exports.conftest import COPY_NAMES, PARIS, UTC, make_rows, needs_postgres
from tests.testapp.models import Author, ExportRow

pytestmark = pytest.mark.django_db

TIMESTAMPS = [
    None,
    datetime.datetime(2024, 7, 1, 10, 0, tzinfo=UTC),  # microsecond 0
    datetime.datetime(2024, 7, 1, 12, 0, 0, 5, tzinfo=PARIS),  # not UTC, 5 µs
    datetime.datetime(2024, 3, 31, 2, 30, 0, 123456, tzinfo=UTC),
    datetime.datetime(2024, 3, 31, 2, 30, 0, 120000, tzinfo=UTC),  # trailing zeros
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before 1970
    datetime.datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime.datetime(1, 1, 1, tzinfo=UTC),
    datetime.datetime(2262, 4, 12, 0, 0, 0, 1, tzinfo=UTC),  # past 64-bit nanoseconds
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.fixture
def stamped() -> models.QuerySet[ExportRow]:
    author = Author.objects.create(name="a")
    ExportRow.objects.bulk_create(
        ExportRow(author=author, created=value, title=str(index))
        for index, value in enumerate(TIMESTAMPS)
    )
    return ExportRow.objects.order_by("id")


def iterator_file(queryset: models.QuerySet[Any], names: list[str], fmt: str, path: Path) -> bytes:
    """What ``write_export`` writes on its iterator path (COPY refused)."""
    columns = resolve_columns(queryset.model, names)
    with mock.patch.object(engine, "can_copy", return_value=False):
        engine.write_export(queryset, columns, fmt, path)
    return path.read_bytes()


def python_file(queryset: models.QuerySet[Any], names: list[str], fmt: str, path: Path) -> bytes:
    """The same export formatted in Python from the loaded values (the reference)."""
    columns = resolve_columns(queryset.model, names)
    with get_writer(fmt)(path, columns) as writer:
        writer.write_header()
        writer.write_rows(queryset.values_list(*names))
    return path.read_bytes()


def test_timestamps_are_formatted_by_the_database(stamped: models.QuerySet[ExportRow]) -> None:
    columns = resolve_columns(ExportRow, ["title", "created"])
    values, marked = formatted_values(stamped, columns, "csv")
    assert [column.formatted for column in marked] == [False, True]
    assert list(values) == [
        (str(index), None if value is None else format_datetime(value))
        for index, value in enumerate(TIMESTAMPS)
    ]
    assert format_datetime(TIMESTAMPS[2]) == "2024-07-01T10:00:00.000005Z"  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_iterator_path_selects_timestamp_text_with_the_same_bytes(
    stamped: models.QuerySet[ExportRow], tmp_path: Path, fmt: str
) -> None:
    names = ["id", "created", "author__name"]
    with CaptureQueriesContext(connection) as queries:
        written = iterator_file(stamped, names, fmt, tmp_path / "iterator")
    select = next(
        q["sql"] for q in queries if "testapp_exportrow" in q["sql"] and "COUNT" not in q["sql"]
    )
    assert ("to_char(" if connection.vendor == "postgresql" else "substr(") in select, select
    assert written == python_file(stamped, names, fmt, tmp_path / "python")
    assert b"1969-12-31T23:59:59.999999Z" in written
    assert b"2024-07-01T10:00:00.000000Z" in written
    assert b"0001-01-01T00:00:00.000000Z" in written
    assert b"9999-12-31T23:59:59.999999Z" in written


def test_where_the_database_does_not_format(
    stamped: models.QuerySet[ExportRow], tmp_path: Path
) -> None:
    columns = resolve_columns(ExportRow, ["created"])
    # XLSX writes typed dates; set operations cannot take an annotation.
    assert not formatted_values(stamped, columns, "xlsx")[1][0].formatted
    union = ExportRow.objects.all().union(ExportRow.objects.filter(pk__lt=0)).order_by("id")
    assert not formatted_values(union, columns, "csv")[1][0].formatted
    names = ["id", "created"]
    written = iterator_file(union, names, "csv", tmp_path / "u")
    assert written == python_file(stamped, names, "csv", tmp_path / "p")
    with override_settings(USE_TZ=False):  # naive datetimes keep the Python path
        assert not formatted_values(stamped, columns, "csv")[1][0].formatted
    if connection.vendor == "sqlite":
        # Stored in another zone than UTC: the text is not UTC.
        wrapper = connections[stamped.db]  # timezone_name is a cached property
        with mock.patch.dict(wrapper.__dict__, {"timezone_name": "Europe/Paris"}):
            assert not formatted_values(stamped, columns, "csv")[1][0].formatted


@needs_postgres
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_postgresql_formats_every_costly_kind_as_copy_does(tmp_path: Path, fmt: str) -> None:
    make_rows()
    queryset = ExportRow.objects.order_by("author__name", "-id")
    columns = resolve_columns(ExportRow, COPY_NAMES)
    marked = formatted_values(queryset, columns, fmt)[1]
    assert {column.name for column in marked if column.formatted} == {
        "price",
        "created",
        "day",
        "at",
        "uid",
    }
    written = iterator_file(queryset, COPY_NAMES, fmt, tmp_path / "iterator")
    assert written == python_file(queryset, COPY_NAMES, fmt, tmp_path / "python")
    if fmt == "csv":
        copy_csv(queryset, columns, tmp_path / "copy")
        assert written == (tmp_path / "copy").read_bytes()
