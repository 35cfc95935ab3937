"""The database recorder: the embedded default, one transaction per flush."""

from __future__ import annotations

from django.db import connections

from perfkit.conf import perfkit_settings
from perfkit.recording.backends.base import Recorder
from perfkit.recording.buffer import Batch
from perfkit.recording.store import write_batch


class DatabaseRecorder(Recorder):
    """Upserts the minute, hour, day and total rows of every flushed batch."""

    def write(self, batch: Batch) -> None:
        if batch:
            write_batch(batch, perfkit_settings.DATABASE_ALIAS)

    def close(self) -> None:
        connections[perfkit_settings.DATABASE_ALIAS].close()
