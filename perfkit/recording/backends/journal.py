"""A process's recent Redis writes, kept in memory to resend them if Redis loses them.

Each entry is one written batch: its id and, per minute it touched, the
fields and values it added (``field, value, field, value, ...``), which is
all a resend needs. Entries older than the window are dropped (a drain has
moved them to the database by then), and so are the oldest once the
journal holds more than ``max_fields`` fields, so its memory stays bounded.

Not thread-safe on its own: the recorder uses it under the pipeline's flush lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

# Field/value pairs of one minute of one batch, flat: what HSET takes.
Fields = list[str | int]

# About 120 bytes a field (measured): some 12 MB at most per process.
MAX_FIELDS = 100_000


@dataclass
class Entry:
    """One batch as written: its id, when, and its fields per minute."""

    batch_id: str
    written_at: float  # time.monotonic()
    minutes: dict[int, Fields]

    @property
    def size(self) -> int:
        return sum(len(fields) // 2 for fields in self.minutes.values())


class Journal:
    """The batches one recorder wrote in the last ``window`` seconds, oldest first."""

    def __init__(self, max_fields: int = MAX_FIELDS) -> None:
        self.max_fields = max_fields
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._fields = 0
        # Entries dropped for the bound while still inside the window.
        self.overflowed = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def fields(self) -> int:
        return self._fields

    def add(self, batch_id: str, minutes: dict[int, Fields], now: float | None = None) -> None:
        """Keep a written batch; a batch id already kept is replaced (a resend)."""
        self._drop(batch_id)
        entry = Entry(batch_id, time.monotonic() if now is None else now, minutes)
        self._entries[batch_id] = entry
        self._fields += entry.size
        while self._fields > self.max_fields and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.overflowed += 1

    def expire(self, window: float, now: float | None = None) -> None:
        """Drop entries written more than ``window`` seconds ago."""
        limit = (time.monotonic() if now is None else now) - window
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.written_at >= limit:
                break
            self._drop(oldest.batch_id)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def clear(self) -> None:
        self._entries.clear()
        self._fields = 0

    def _drop(self, batch_id: str) -> None:
        entry = self._entries.pop(batch_id, None)
        if entry is not None:
            self._fields -= entry.size
