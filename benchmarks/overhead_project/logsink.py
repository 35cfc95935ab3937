"""A logging handler that formats every record, writes it to /dev/null and counts it."""

from __future__ import annotations

import logging
import os
from collections import Counter

counts: Counter[str] = Counter()


class CountingSink(logging.StreamHandler):  # type: ignore[type-arg]
    """Pays for formatting and a write like a real handler, without a terminal."""

    def __init__(self) -> None:
        super().__init__(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115

    def emit(self, record: logging.LogRecord) -> None:
        counts[record.name] += 1
        super().emit(record)
