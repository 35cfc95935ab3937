"""Shared export test data: rows holding every awkward value the format table covers."""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from tests.testapp.models import Author, ExportRow

needs_postgres = pytest.mark.skipif(
    not settings.DATABASE_URL,
    reason="needs PERFKIT_TEST_DATABASE_URL (the PostgreSQL pass): COPY is PostgreSQL-only",
)

# Every ExportRow column but the JSON one (which COPY does not take), and two
# through the author foreign key.
COPY_NAMES = [
    "id",
    "author",
    "author__name",
    "title",
    "body",
    "count",
    "big",
    "price",
    "active",
    "flag",
    "created",
    "day",
    "at",
    "ratio",
    "uid",
]
ALL_NAMES = [*COPY_NAMES, "data"]

PARIS = ZoneInfo("Europe/Paris")
UTC = datetime.UTC
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
AWKWARD_TEXT = [
    "",
    "plain",
    'say "hi"',
    "a,b",
    "line1\nline2",
    "crlf\r\nend",
    "lone\rcr",
    "\\.",
    " leading space",
    "'already quoted",
    "Zoë 😀 漢字 \u202ertl",
    "a=b",
    "tab\tinside",
    "%zz%",
]
FLOATS = [0.1, 1e15, 1e-05, 123.456, -0.0, float("inf"), float("-inf"), float("nan"), 1e300, 5e-324]
DECIMALS = [
    Decimal("1.5"),
    Decimal("-0.01"),
    Decimal("99999999.99"),
    Decimal("0"),
    Decimal("-12.3"),
]
DATETIMES = [
    datetime.datetime(2024, 3, 31, 2, 30, 0, 123456, tzinfo=UTC),
    datetime.datetime(2024, 7, 1, 12, 0, tzinfo=PARIS),  # 10:00 UTC, microsecond 0
    datetime.datetime(1, 1, 1, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def make_rows() -> list[ExportRow]:
    """Create and return the sample rows (the first one all NULLs)."""
    authors = [
        Author.objects.create(name=name)
        for name in ["Zoë", 'O\'Brien, "Bob"', "=cmd()", "multi\nline"]
    ]
    rows = [ExportRow(author=authors[0], body="")]  # every nullable column NULL
    texts = AWKWARD_TEXT + [f"{trigger}cmd|' /C calc'!A0" for trigger in TRIGGERS]
    for index, text in enumerate(texts):
        rows.append(
            ExportRow(
                author=authors[index % len(authors)],
                title=text,
                body=texts[-index - 1],
                count=-index,
                big=(-1) ** index * (2**63 - 1 - index),
                price=DECIMALS[index % len(DECIMALS)],
                active=bool(index % 2),
                flag=[True, False, None][index % 3],
                created=DATETIMES[index % len(DATETIMES)],
                day=datetime.date(1 + index * 400, 1 + index % 12, 28),
                at=datetime.time(index % 24, 59, 1, index * 1000),
                ratio=FLOATS[index % len(FLOATS)],
                uid=uuid.UUID(int=index * 2**120 + index),
                data={"n": index, "text": text, "list": [1.5, None, True]},
            )
        )
    return ExportRow.objects.bulk_create(rows)


_FIELD = re.compile(r'(?:"((?:[^"]|"")*)"|([^,"\r\n]*))(,|\n)')


def parse_csv(text: str) -> list[list[Any]]:
    """Parse our CSV strictly: ``None`` for an unquoted empty field, ``""`` for ``""``."""
    rows: list[list[Any]] = []
    row: list[Any] = []
    pos = 0
    while pos < len(text):
        match = _FIELD.match(text, pos)
        assert match, f"malformed CSV at {pos}: {text[pos : pos + 30]!r}"
        quoted, plain, end = match.groups()
        row.append(quoted.replace('""', '"') if quoted is not None else (plain or None))
        if end == "\n":
            rows.append(row)
            row = []
        pos = match.end()
    assert not row, "the last row has no line ending"
    return rows
