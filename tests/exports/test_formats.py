"""The format table and column resolution, value by value."""

from __future__ import annotations

import datetime
import math
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from perfkit.exports.columns import Column, resolve_columns
from perfkit.exports.formats import (
    Kind,
    csv_cell,
    format_float,
    kind_of,
    neutralize,
)
from tests.exports.conftest import ALL_NAMES
from tests.testapp.models import Author, Book, ExportRow


def column(name: str) -> Column:
    return resolve_columns(ExportRow, [name])[0]


# Columns


def test_labels_are_capitalized_verbose_names_joined_across_relations() -> None:
    columns = resolve_columns(ExportRow, ["title", "author__name", "author", "pk", "author_id"])
    assert [c.label for c in columns] == ["Title", "Author / Name", "Author", "ID", "Author"]
    assert columns[1].field is Author._meta.get_field("name")
    assert columns[2].field is ExportRow._meta.get_field("author")
    assert columns[3].field is ExportRow._meta.pk


def test_labels_can_be_given() -> None:
    columns = resolve_columns(ExportRow, ["title", "count"], labels={"title": "Headline"})
    assert [c.label for c in columns] == ["Headline", "Count"]


def test_a_foreign_key_column_exports_the_raw_id_with_the_target_kind() -> None:
    assert kind_of(column("author")) is Kind.INTEGER
    assert csv_cell(17, column("author")) == "17"


@pytest.mark.parametrize(
    ("model", "name", "message"),
    [
        (ExportRow, "nope", "has no field 'nope'"),
        (ExportRow, "author__nope", "testapp.Author has no field 'nope'"),
        (ExportRow, "title__x", "'title' on testapp.ExportRow is not a forward foreign key"),
        (ExportRow, "author__", "empty part"),
        (Author, "books", "'books' on testapp.Author is a reverse relation"),
        (Author, "books__title", "'books' on testapp.Author is a reverse relation"),
        (Book, "tags", "'tags' on testapp.Book is a reverse or many-to-many relation"),
        (Book, "tags__name", "'tags' on testapp.Book is not a forward foreign key"),
    ],
)
def test_unknown_reverse_and_many_to_many_columns_are_refused(
    model: type, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match="Invalid export column") as info:
        resolve_columns(model, [name])
    assert message in str(info.value)


def test_every_kind_is_recognized() -> None:
    kinds = {c.name: kind_of(c) for c in resolve_columns(ExportRow, ALL_NAMES)}
    assert kinds["title"] is kinds["body"] is kinds["author__name"] is Kind.TEXT
    assert kinds["count"] is kinds["big"] is kinds["id"] is Kind.INTEGER
    assert kinds["price"] is Kind.DECIMAL
    assert kinds["active"] is kinds["flag"] is Kind.BOOLEAN
    assert kinds["created"] is Kind.DATETIME
    assert kinds["day"] is Kind.DATE
    assert kinds["at"] is Kind.TIME
    assert kinds["ratio"] is Kind.FLOAT
    assert kinds["uid"] is Kind.UUID
    assert kinds["data"] is Kind.JSON


# Text and NULL


def test_null_and_the_empty_string_differ() -> None:
    assert csv_cell(None, column("title")) is None
    assert csv_cell("", column("title")) == ""
    for name in ALL_NAMES:
        assert csv_cell(None, column(name)) is None


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_trigger_is_neutralized(trigger: str) -> None:
    text = f'{trigger}HYPERLINK("http://x")'
    assert neutralize(text) == "'" + text
    assert csv_cell(text, column("title")) == "'" + text
    assert csv_cell(text, column("author__name")) == "'" + text


@pytest.mark.parametrize("text", ["", "a=b", " a=b", "'=x", "Zoë", "1+1", "\n'=x"])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralize(text) == text
    assert csv_cell(text, column("body")) == text


def test_negative_numbers_are_never_neutralized() -> None:
    assert csv_cell(-5, column("count")) == "-5"
    assert csv_cell(-(2**63), column("big")) == "-9223372036854775808"
    assert csv_cell(Decimal("-1.5"), column("price")) == "-1.50"
    assert csv_cell(-1.5, column("ratio")) == "-1.5"
    assert csv_cell(float("-inf"), column("ratio")) == "-Infinity"


# Typed values


def test_booleans_are_words() -> None:
    assert csv_cell(True, column("active")) == "true"
    assert csv_cell(False, column("flag")) == "false"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.5"), "1.50"),
        (Decimal("1"), "1.00"),
        (Decimal("1E+2"), "100.00"),
        (Decimal("12345678.90"), "12345678.90"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("0.005"), "0.01"),  # half away from zero, like PostgreSQL
        (Decimal("-0.005"), "-0.01"),
        (Decimal("1E-7"), "0.00"),
        (Decimal("NaN"), "NaN"),
    ],
)
def test_decimals_are_written_at_the_field_scale_without_exponent(
    value: Decimal, expected: str
) -> None:
    assert csv_cell(value, column("price")) == expected


def test_aware_datetimes_are_utc_with_six_fraction_digits() -> None:
    paris = ZoneInfo("Europe/Paris")
    created = column("created")
    assert csv_cell(datetime.datetime(2024, 7, 1, 12, 0, tzinfo=paris), created) == (
        "2024-07-01T10:00:00.000000Z"
    )
    assert csv_cell(datetime.datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=paris), created) == (
        "2023-12-31T23:00:00.000005Z"
    )
    assert csv_cell(datetime.datetime(1, 1, 1, tzinfo=datetime.UTC), created) == (
        "0001-01-01T00:00:00.000000Z"
    )


def test_naive_datetimes_have_no_z() -> None:
    value = datetime.datetime(2024, 7, 1, 12, 0, 0, 10)
    assert csv_cell(value, column("created")) == "2024-07-01T12:00:00.000010"


def test_dates_times_and_uuids() -> None:
    assert csv_cell(datetime.date(5, 3, 4), column("day")) == "0005-03-04"
    assert csv_cell(datetime.time(1, 2, 3), column("at")) == "01:02:03.000000"
    assert csv_cell(datetime.time(23, 59, 59, 999999), column("at")) == "23:59:59.999999"
    value = uuid.UUID("12345678-9ABC-DEF0-1234-56789ABCDEF0")
    assert csv_cell(value, column("uid")) == "12345678-9abc-def0-1234-56789abcdef0"
    assert csv_cell(value.hex.upper(), column("uid")) == str(value)


def test_json_is_compact_unicode_text_and_never_neutralized() -> None:
    data = column("data")
    assert csv_cell({"a": [1, "é", None]}, data) == '{"a":[1,"é",null]}'
    assert csv_cell(-5, data) == "-5"
    assert csv_cell("=x", data) == '"=x"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (100.0, "100"),
        (1e14, "100000000000000"),
        (123456789012345.6, "123456789012345.6"),
        (1e15, "1e+15"),
        (1e16, "1e+16"),
        (1.5e300, "1.5e+300"),
        (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (1e-05, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.0, "0"),
        (-0.0, "-0"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_use_postgresql_float8_layout(value: float, expected: str) -> None:
    assert format_float(value) == expected
    assert math.isnan(value) or float(expected) == value
