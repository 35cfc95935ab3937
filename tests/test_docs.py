"""The user documentation in docs/ agrees with the code: settings, check ids, links."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import perfkit
from perfkit.conf import SPECS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = Path(perfkit.__file__).parent
PAGES = sorted(DOCS.glob("*.md"))

# perfkit.E001, perfkit_metrics.W002...; not part of a longer dotted name.
CHECK_ID = re.compile(r"(?<![\w.])perfkit(?:_[a-z_]+)?\.[EWI]\d{3}\b")
SETTING_KEY = re.compile(r"[A-Z][A-Z0-9_]*")
LEVELS = {"E": "error", "W": "warning", "I": "info"}
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def split_row(line: str) -> list[str]:
    """Cells of one table row; ``\\|`` is a literal pipe inside a cell."""
    inner = line.strip()
    inner = inner.removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def table_rows(path: Path) -> list[list[str]]:
    """Body rows (header and separator left out) of every table in ``path``."""
    rows: list[list[str]] = []
    block: list[str] = []
    for line in [*prose_lines(path.read_text()), ""]:
        if line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2 and set(block[1].replace("|", "").strip()) <= set("-: "):
            rows += [split_row(row) for row in block[2:]]
        block = []
    return rows


def unquote(cell: str) -> str:
    """A cell's text without the backticks of a code span around all of it."""
    if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`"):
        return cell[1:-1]
    return cell


def listing(items: set[str]) -> str:
    return ", ".join(sorted(items))


# 1. Settings ---------------------------------------------------------------


def documented_settings() -> dict[str, list[str]]:
    """Setting key -> its row's cells, from every table of docs/settings.md."""
    found: dict[str, list[str]] = {}
    duplicates = set()
    for cells in table_rows(DOCS / "settings.md"):
        key = unquote(cells[0])
        if not SETTING_KEY.fullmatch(key):
            continue
        if key in found:
            duplicates.add(key)
        found[key] = cells
    assert not duplicates, f"settings documented twice in docs/settings.md: {listing(duplicates)}"
    return found


def assert_same(real: set[str], documented: set[str], real_name: str, page: str) -> None:
    """Everything ``real`` is documented on ``page``, and nothing else is."""
    missing, unknown = real - documented, documented - real
    assert not (missing or unknown), (
        f"{real_name} missing from {page}: {listing(missing) or '-'}; "
        f"in {page} but not in {real_name}: {listing(unknown) or '-'}"
    )


def test_every_setting_is_documented_and_only_real_ones() -> None:
    assert_same(
        set(SPECS), set(documented_settings()), "perfkit.conf.SPECS keys", "docs/settings.md"
    )


def test_documented_defaults_match_the_code() -> None:
    wrong = {
        f"{key}: docs say {unquote(cells[1])}, code has {SPECS[key].default!r}"
        for key, cells in documented_settings().items()
        if key in SPECS and unquote(cells[1]) != repr(SPECS[key].default)
    }
    assert not wrong, "defaults in docs/settings.md differ from perfkit.conf.SPECS:\n" + "\n".join(
        sorted(wrong)
    )


# 2. System checks ------------------------------------------------------------


def source_check_ids() -> set[str]:
    """Every check id written in perfkit's Python source (migrations aside)."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "migrations" not in path.parts:
            found.update(CHECK_ID.findall(path.read_text()))
    return found


def documented_check_ids() -> dict[str, list[str]]:
    return {
        unquote(cells[0]): cells
        for cells in table_rows(DOCS / "checks.md")
        if CHECK_ID.fullmatch(unquote(cells[0]))
    }


def test_every_check_id_is_documented_and_only_real_ones() -> None:
    in_source = source_check_ids()
    assert in_source, "found no check id in perfkit's source: is the pattern stale?"
    assert_same(in_source, set(documented_check_ids()), "check ids in the source", "docs/checks.md")


def test_documented_check_levels_match_their_ids() -> None:
    wrong = {
        f"{check_id} is documented as {cells[1]!r}"
        for check_id, cells in documented_check_ids().items()
        if len(cells) > 1 and cells[1] != LEVELS[check_id.split(".")[-1][0]]
    }
    assert not wrong, "levels in docs/checks.md disagree with the ids:\n" + "\n".join(sorted(wrong))


# 3. Links --------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            anchor, n = base, 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(path: Path) -> list[str]:
    """Link targets in the prose of ``path`` (code blocks and code spans left out)."""
    text = "\n".join(INLINE_CODE.sub("", line) for line in prose_lines(path.read_text()))
    return LINK.findall(text)


@pytest.mark.parametrize("path", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_point_to_existing_files_and_headings(path: Path) -> None:
    broken = []
    for target in links(path):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, f"broken links in {path.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_index_links_every_page() -> None:
    linked = {target.partition("#")[0] for target in links(DOCS / "index.md")}
    missing = {page.name for page in PAGES} - linked - {"index.md"}
    assert not missing, f"docs/index.md does not link to: {listing(missing)}"
