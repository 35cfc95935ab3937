"""The writers: the shared contract, then CSV, JSON Lines and XLSX output."""

from __future__ import annotations

import datetime
import json
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from perfkit.exports.columns import resolve_columns
from perfkit.exports.writers import (
    WRITERS,
    CsvWriter,
    ExportWriter,
    JsonLinesWriter,
    XlsxWriter,
    get_writer,
    xlsx,
)
from tests.exports.conftest import ALL_NAMES, make_rows, parse_csv
from tests.testapp.models import ExportRow

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def export(writer_class: type[ExportWriter], path: Path, names: list[str]) -> int:
    columns = resolve_columns(ExportRow, names)
    rows = ExportRow.objects.order_by("id").values_list(*names).iterator(chunk_size=7)
    with writer_class(path, columns) as writer:
        writer.write_header()
        return writer.write_rows(rows)


# The contract every writer keeps


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_writer_contract(fmt: str, tmp_path: Path) -> None:
    writer_class = get_writer(fmt)
    assert writer_class.format == fmt
    assert writer_class.extension
    assert writer_class.content_type
    assert writer_class.available()
    make_rows()
    columns = resolve_columns(ExportRow, ALL_NAMES)
    rows = list(ExportRow.objects.order_by("id").values_list(*ALL_NAMES))
    path = tmp_path / f"out.{writer_class.extension}"
    writer = writer_class(path, columns)
    writer.write_header()
    assert writer.write_rows(iter(rows[:5])) == 5
    assert writer.write_rows(rows[5:]) == len(rows) - 5
    assert writer.write_rows([]) == 0
    assert writer.rows_written == len(rows)
    writer.close()
    writer.close()  # closing twice does nothing
    assert path.stat().st_size > 0


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match=r"^Unknown export format 'x'; choose csv, jsonl or xlsx$"):
        get_writer("x")
    assert get_writer("csv") is CsvWriter


# CSV


def test_csv_round_trip_tells_null_from_empty(tmp_path: Path) -> None:
    created = make_rows()
    path = tmp_path / "out.csv"
    names = ["id", "title", "body", "count", "price", "flag", "created", "author__name"]
    assert export(CsvWriter, path, names) == len(created)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM
    assert b"\r\n" not in raw.replace(b'"crlf\r\nend"', b"")  # rows end with \n
    header, *rows = parse_csv(raw.decode("utf-8"))
    assert header == ["ID", "Title", "Body", "Count", "Price", "Flag", "Created", "Author / Name"]
    by_id = {int(row[0]): row for row in rows}
    nulls = by_id[created[0].pk]
    assert nulls[1:] == [None, "", "0", None, None, None, "Zoë"]
    expected = {row.pk: row for row in created}
    for pk, row in by_id.items():
        title = expected[pk].title
        assert row[1] == (None if title is None else _neutralized(title))
        assert row[2] == _neutralized(expected[pk].body)
    assert raw.count(b'""') >= 1
    assert b'"say ""hi"""' in raw
    assert b'"a,b"' in raw
    assert b'"line1\nline2"' in raw
    assert b"\"'=cmd|' /C calc'!A0\"" not in raw  # neutralized, but nothing to quote
    assert b"'=cmd|' /C calc'!A0" in raw
    assert b"'@cmd|' /C calc'!A0" in raw
    assert b"\"'\rcmd|' /C calc'!A0\"" in raw  # a CR inside forces quoting
    assert "Zoë 😀 漢字".encode() in raw
    assert b",1.50," in raw
    assert b",-0.01," in raw
    assert b",2024-07-01T10:00:00.000000Z," in raw
    assert b",-1,\"'-cmd" not in raw  # sanity: counts are numbers, never prefixed
    assert re.search(rb"\n\d+,,-\d+,", raw) is None


def _neutralized(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def test_csv_header_labels_are_quoted_and_neutralized(tmp_path: Path) -> None:
    columns = resolve_columns(
        ExportRow, ["title", "body", "count"], labels={"title": "=A1", "body": "a,b", "count": ""}
    )
    path = tmp_path / "out.csv"
    with CsvWriter(path, columns) as writer:
        writer.write_header()
    assert path.read_bytes() == b'\'=A1,"a,b",""\n'


def test_a_single_column_quotes_the_old_end_of_data_marker(tmp_path: Path) -> None:
    columns = resolve_columns(ExportRow, ["title"])
    path = tmp_path / "out.csv"
    with CsvWriter(path, columns) as writer:
        writer.write_rows([("\\.",), (None,), ("",), ("x",)])
    assert path.read_bytes() == b'"\\."\n\n""\nx\n'


# JSON Lines


def test_json_lines_are_json_native(tmp_path: Path) -> None:
    created = make_rows()
    path = tmp_path / "out.jsonl"
    assert export(JsonLinesWriter, path, ALL_NAMES) == len(created)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    objects = [json.loads(line) for line in lines[:-1]]
    assert list(objects[0]) == ALL_NAMES
    first = objects[0]
    assert first["title"] is None and first["body"] == "" and first["price"] is None
    by_title: dict[Any, dict[str, Any]] = {obj["title"]: obj for obj in objects[1:]}
    formula = by_title["=cmd|' /C calc'!A0"]  # not neutralized: not a spreadsheet
    assert isinstance(formula["count"], int) and formula["count"] < 0
    assert isinstance(formula["active"], bool)
    assert by_title["plain"]["price"] == "-0.01"
    assert by_title[""]["price"] == "1.50"
    assert by_title[""]["created"] == "2024-03-31T02:30:00.123456Z"
    assert by_title['say "hi"']["created"] == "0001-01-01T00:00:00.000000Z"
    assert by_title["plain"]["ratio"] == 1e15
    assert by_title["crlf\r\nend"]["ratio"] == "Infinity"
    assert by_title["lone\rcr"]["ratio"] == "-Infinity"
    assert by_title["plain"]["data"] == {"n": 1, "text": "plain", "list": [1.5, None, True]}
    assert by_title["plain"]["uid"] == "01000000-0000-0000-0000-000000000001"
    assert by_title["plain"]["day"] == "0401-02-28"
    assert by_title["plain"]["at"] == "01:59:01.001000"
    assert ": " not in lines[1] and "Zoë" in path.read_text(encoding="utf-8")


# XLSX

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _cells(path: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """Each cell by reference (type, style, value, formula), and styles.xml."""
    with zipfile.ZipFile(path) as archive:
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
        styles = archive.read("xl/styles.xml").decode()
    cells = {}
    for cell in sheet.iterfind(".//m:c", NS):
        value = cell.find("m:is/m:t", NS)
        if value is None:
            value = cell.find("m:v", NS)
        cells[cell.attrib["r"]] = {
            "t": cell.attrib.get("t"),
            "s": cell.attrib.get("s"),
            "value": None if value is None else value.text,
            "formula": cell.find("m:f", NS) is not None,
        }
    return cells, styles


def test_xlsx_never_writes_formulas(tmp_path: Path) -> None:
    created = make_rows()
    path = tmp_path / "out.xlsx"
    assert export(XlsxWriter, path, ALL_NAMES) == len(created)
    cells, styles = _cells(path)
    assert not any(cell["formula"] for cell in cells.values())
    titles = {cell["value"]: cell for ref, cell in cells.items() if re.fullmatch(r"D\d+", ref)}
    for trigger in ["=", "+", "-", "@", "\t", "\r"]:
        cell = titles[f"{trigger}cmd|' /C calc'!A0".replace("\r", "_x000D_")]  # XML escape
        assert cell["t"] == "inlineStr", "text is a string cell"
        assert cell["s"], "formula-looking text carries the quote-prefix style"
    assert titles["plain"]["s"] is None
    assert 'quotePrefix="1"' in styles
    assert {cells["I2"]["t"], cells["I3"]["t"]} == {"b"}  # booleans are booleans
    assert cells["F4"] == {"t": None, "s": None, "value": "-1", "formula": False}
    assert cells["H4"]["value"] == "-0.01" and cells["H4"]["t"] is None
    assert 'formatCode="0.00"' in styles


def test_xlsx_values(tmp_path: Path) -> None:
    columns = resolve_columns(ExportRow, ["big", "price", "created", "day", "ratio", "title"])
    path = tmp_path / "out.xlsx"
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    with XlsxWriter(path, columns) as writer:
        writer.write_header()
        writer.write_rows(
            [
                (
                    2**62,
                    Decimal("1.50"),
                    datetime.datetime(2024, 7, 1, 12, 0, tzinfo=plus_two),
                    datetime.date(1850, 1, 1),
                    float("nan"),
                    "x",
                ),
                (12, None, None, datetime.date(2024, 1, 2), 0.5, None),
            ]
        )
    cells, _ = _cells(path)
    assert cells["A1"]["value"] == "Big"
    assert cells["A2"]["value"] == "4611686018427387904"  # too many digits for a double
    assert cells["A2"]["t"] == "inlineStr" and cells["A3"]["value"] == "12"
    assert cells["B2"]["value"] == "1.5" and cells["B2"]["s"]
    assert float(cells["C2"]["value"]) == pytest.approx(45474 + 10 / 24)  # 10:00 UTC
    assert cells["D2"]["value"] == "1850-01-01" and cells["D2"]["t"] == "inlineStr"
    assert cells["D3"]["value"] == "45293"
    assert cells["E2"]["value"] == "NaN" and cells["E3"]["value"] == "0.5"
    assert "B3" not in cells and "F3" not in cells  # NULL is an empty cell


def test_xlsx_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3)
    with XlsxWriter(tmp_path / "out.xlsx", resolve_columns(ExportRow, ["count"])) as writer:
        writer.write_header()
        with pytest.raises(ValueError, match="at most 3 rows"):
            writer.write_rows([(1,), (2,), (3,)])
