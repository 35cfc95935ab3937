"""Formula neutralization looks past leading whitespace, on both CSV paths alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from perfkit.exports.columns import resolve_columns
from perfkit.exports.formats import FORMULA_WHITESPACE, csv_cell, neutralize
from perfkit.exports.writers import XlsxWriter
from tests.exports.conftest import needs_postgres, parse_csv
from tests.exports.test_copy import both_paths
from tests.exports.test_writers import _cells
from tests.testapp.models import Author, ExportRow

NEUTRALIZED = [
    "=1+1",
    "\t=1",
    "\r=1",
    "\tplain",  # tab and CR first are triggers by themselves
    "\rplain",
    " =1+1",
    "   +1",
    " -1",
    " @SUM(A1)",
    '\n=HYPERLINK("http://x")',
    "\r\n=1",
    "\n\n-2+3",
    "\u00a0=1+1",  # no-break space
    "\u00a0\u00a0@x",
    "\u3000=1",  # ideographic space
    "\u2003+1",  # em space
    "\u2028=1",  # line separator
    "\u0085-1",  # next line
    "\x0b=1",
    "\x0c=1",
    "\x1f=1",
    " \t\n\u00a0 =x",
]
LEFT_ALONE = [
    "",
    " ",
    "\n",
    "\u00a0",
    "a=b",
    " a=b",
    "\u00a0plain",
    "'=x",
    " '=x",
    "1+1",
    " 1-1",
    "Zoë = 1",
    "\u200b=1",  # zero-width space is not whitespace (str.isspace): a spreadsheet shows it
]


def test_the_whitespace_set_is_unicode_whitespace() -> None:
    """The set copy.py hands to PostgreSQL is exactly what Python calls whitespace."""
    spaces = {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}
    assert set(FORMULA_WHITESPACE) == spaces
    assert "\u00a0" in spaces and "\n" in spaces


@pytest.mark.parametrize("text", NEUTRALIZED)
def test_triggers_after_leading_whitespace_are_neutralized(text: str) -> None:
    column = resolve_columns(ExportRow, ["title"])[0]
    assert neutralize(text) == "'" + text
    assert csv_cell(text, column) == "'" + text


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_other_leading_whitespace_is_left_alone(text: str) -> None:
    column = resolve_columns(ExportRow, ["title"])[0]
    assert neutralize(text) == text
    assert csv_cell(text, column) == text


def test_numbers_are_never_neutralized() -> None:
    count, ratio = resolve_columns(ExportRow, ["count", "ratio"])
    assert csv_cell(-5, count) == "-5"
    assert csv_cell(-1.5, ratio) == "-1.5"


@needs_postgres
@pytest.mark.django_db
def test_copy_and_iterator_paths_neutralize_alike(tmp_path: Path) -> None:
    author = Author.objects.create(name=" =author()")
    texts = NEUTRALIZED + LEFT_ALONE
    ExportRow.objects.bulk_create(
        ExportRow(author=author, title=text, body=f"{text}body", count=-index)
        for index, text in enumerate(texts)
    )
    queryset = ExportRow.objects.order_by("id")
    copied, iterated, count = both_paths(
        queryset, ["id", "title", "body", "count", "author__name"], tmp_path
    )
    assert count == len(texts)
    assert copied == iterated
    rows = parse_csv(copied.decode("utf-8"))[1:]
    expected = ["'" + text for text in NEUTRALIZED] + LEFT_ALONE
    assert [row[1] for row in rows] == [text or "" for text in expected]
    assert {row[4] for row in rows} == {"' =author()"}
    assert [row[3] for row in rows] == [str(-index) for index in range(len(texts))]


def test_xlsx_quote_prefixes_the_same_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    texts = [text for text in NEUTRALIZED + LEFT_ALONE if text]
    with XlsxWriter(path, resolve_columns(ExportRow, ["title"])) as writer:
        writer.write_header()
        writer.write_rows([(text,) for text in texts])
    cells, _ = _cells(path)
    styled = [bool(cells[f"A{row}"]["s"]) for row in range(2, len(texts) + 2)]
    assert styled == [text in NEUTRALIZED for text in texts]
