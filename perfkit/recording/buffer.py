"""In-process aggregation of recorded events, per kind, key and minute."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from perfkit.recording import clean, histogram

# (kind, key, minute start as epoch seconds)
BucketKey = tuple[str, str, int]

MAX_BUCKETS = 50_000


@dataclass
class Aggregate:
    """Counters, maxima and a latency histogram that add up."""

    counters: dict[str, int] = field(default_factory=dict)
    maxima: dict[str, int] = field(default_factory=dict)
    histogram: histogram.Histogram = field(default_factory=dict)
    # The full text of a key too long for its column (stored hashed), else "".
    label: str = ""

    def add(
        self,
        counters: Mapping[str, int],
        maxima: Mapping[str, int] | None = None,
        duration_us: float | None = None,
    ) -> None:
        """Add one event's values."""
        own = self.counters
        for name, value in counters.items():
            own[name] = own.get(name, 0) + value
        if maxima:
            self.merge_maxima(maxima)
        if duration_us is not None:
            histogram.add(self.histogram, duration_us)

    def merge_maxima(self, maxima: Mapping[str, int]) -> None:
        own = self.maxima
        for name, value in maxima.items():
            if value > own.get(name, value - 1):
                own[name] = int(value)

    def merge(self, other: Aggregate) -> None:
        """Add another aggregate into this one."""
        self.add(other.counters, other.maxima)
        histogram.merge(self.histogram, other.histogram)
        if other.label and not self.label:
            self.label = other.label


Batch = dict[BucketKey, Aggregate]
Rows = list[tuple[BucketKey, Aggregate]]


@dataclass
class Part:
    """Rows written under one batch id.

    ``sent`` once a write was attempted: the write may have been applied
    with its reply lost, so the rows are resent as they are, under the same
    id, never merged with newer counts.
    """

    id: str
    rows: Rows
    sent: bool = False

    @classmethod
    def new(cls, batch: Batch) -> Part:
        return cls(uuid.uuid4().hex, list(batch.items()))

    def piece_id(self, start: int, stop: int) -> str:
        """The id of ``rows[start:stop]``: the part's own for the whole, else a distinct one."""
        if (start, stop) == (0, len(self.rows)):
            return self.id
        return f"{self.id}/{start}-{stop}"

    def piece(self, start: int, stop: int) -> Part:
        return Part(self.piece_id(start, stop), self.rows[start:stop], sent=True)


class Buffer:
    """Thread-safe buffer the request path adds to and the flusher swaps out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: Batch = {}
        self._resend: list[Part] = []
        self._resend_rows = 0
        self.dropped = 0

    def add(
        self,
        kind: str,
        key: str,
        counters: Mapping[str, int],
        maxima: Mapping[str, int] | None = None,
        duration_us: float | None = None,
        at: float | None = None,
    ) -> None:
        minute = int(at if at is not None else time.time()) // 60 * 60
        column_key, label = clean.rollup_key(key)
        bucket = (kind, column_key, minute)
        with self._lock:
            aggregate = self._data.get(bucket)
            if aggregate is None:
                if len(self._data) >= MAX_BUCKETS:
                    self.dropped += 1
                    return
                aggregate = self._data[bucket] = Aggregate(label=label)
            aggregate.add(counters, maxima, duration_us)

    def take(self) -> Batch:
        """Remove and return everything buffered so far."""
        with self._lock:
            data, self._data = self._data, {}
        return data

    def restore(self, batch: Batch) -> None:
        """Put back a batch whose flush failed, so it is retried (bounded)."""
        with self._lock:
            for bucket, aggregate in batch.items():
                own = self._data.get(bucket)
                if own is not None:
                    own.merge(aggregate)
                elif len(self._data) < MAX_BUCKETS:
                    self._data[bucket] = aggregate
                else:
                    self.dropped += 1

    def take_resends(self) -> list[Part]:
        """Remove and return the parts waiting to be resent under their ids."""
        with self._lock:
            parts, self._resend, self._resend_rows = self._resend, [], 0
        return parts

    def keep_for_resend(self, parts: list[Part]) -> None:
        """Keep parts whose write may have been applied, to resend them first."""
        if parts:
            with self._lock:
                self._resend[:0] = parts
                self._resend_rows += sum(len(part.rows) for part in parts)

    def clear(self) -> None:
        """Forget everything held, resends included (tests)."""
        self.take()
        self.take_resends()

    def buckets(self) -> list[BucketKey]:
        """Every bucket held: newly recorded ones and those waiting to be resent."""
        with self._lock:
            return [*self._data, *(bucket for part in self._resend for bucket, _ in part.rows)]

    def __len__(self) -> int:
        return len(self._data) + self._resend_rows
