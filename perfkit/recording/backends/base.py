"""The recorder contract: where a flushed batch of aggregates goes."""

from __future__ import annotations

from perfkit.recording.buffer import Batch


class Recorder:
    """Base class of recorder backends.

    A recorder receives batches that the pipeline buffered in-process and
    must add them to shared storage. ``write`` runs off the request path (the
    flush thread, process exit, or an explicit ``flush()``); it raises on
    failure and the pipeline keeps the batch for the next attempt.
    """

    #: Whether counts reach the rollup tables only after a drain.
    needs_drain = False

    def write(self, batch: Batch) -> None:
        raise NotImplementedError

    def drain(self, *, include_current: bool = False) -> int:
        """Move pending counts into the rollup tables; returns batches drained."""
        return 0

    def close(self) -> None:
        """Release connections (after a flush, or on fork)."""
