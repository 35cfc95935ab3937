"""Cleaning every recorded string at record time, and keys that fit their column.

A value the database refuses (a NUL in PostgreSQL text, a lone surrogate,
a string longer than its ``varchar``) would fail its whole batch; cleaned
here, on the request path, it never reaches a flush. The fast path (a short
ASCII string without NUL) costs a few hundred nanoseconds.

A rollup key longer than its column is never cut (two statements sharing a
long prefix would become one row): it is stored as a readable prefix plus a
hash of the full text, and the text itself goes beside it as the row's label.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

NUL = "\x00"
KEY_MAX = 255
"""Length of ``Rollup.key`` (and of ``SlowRequest.endpoint``)."""
LABEL_MAX = 2000
"""Readable text kept beside a hashed key; longer texts end with their full hash."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_MARK = "\u2026#"  # between a hashed key's readable prefix and its hash
_KEY_HASH = 40
_KEY_PREFIX = KEY_MAX - len(_MARK) - _KEY_HASH
_LABEL_PREFIX = LABEL_MAX - len(_MARK) - 64
_CUT_LABEL = re.compile(f"{_MARK}([0-9a-f]{{64}})$")


def text(value: object, max_length: int | None = None) -> str:
    """``value`` as a string any database stores: no NUL, no lone surrogate, cut."""
    if not isinstance(value, str):
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "replace")
        else:
            value = str(value)
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    if NUL in value:
        value = value.replace(NUL, "")
    if max_length is not None and len(value) > max_length:
        value = value[:max_length]
    return value


def json_value(value: Any, max_length: int | None = None) -> Any:
    """A JSON document with every string (keys too) cleaned; PostgreSQL's jsonb refuses NUL."""
    if isinstance(value, str):
        return text(value, max_length)
    if isinstance(value, dict):
        return {text(k): json_value(v, max_length) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, max_length) for v in value]
    return value


def rollup_key(value: object) -> tuple[str, str]:
    """(column key, label) of a recorded key; the label is empty when the key is the text."""
    cleaned = text(value)
    if len(cleaned) <= KEY_MAX:
        return cleaned, ""
    digest = hashlib.sha256(cleaned.encode()).hexdigest()
    key = f"{cleaned[:_KEY_PREFIX]}{_MARK}{digest[:_KEY_HASH]}"
    if len(cleaned) <= LABEL_MAX:
        return key, cleaned
    return key, f"{cleaned[:_LABEL_PREFIX]}{_MARK}{digest}"


def key_of(shown: str) -> str:
    """The column key of a key as readers show it (its label, or the key itself)."""
    if len(shown) <= KEY_MAX:
        return shown
    cut = _CUT_LABEL.search(shown) if len(shown) == LABEL_MAX else None
    if cut is not None:
        return f"{shown[:_KEY_PREFIX]}{_MARK}{cut.group(1)[:_KEY_HASH]}"
    return rollup_key(shown)[0]
