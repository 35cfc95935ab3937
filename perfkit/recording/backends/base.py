"""The recorder contract: where a flushed batch of aggregates goes."""

from __future__ import annotations

from perfkit.recording.buffer import Batch


class Recorder:
    """Base class of recorder backends.

    A recorder receives batches that the pipeline buffered in-process and
    must add them to shared storage. ``write`` runs off the request path (the
    flush thread, process exit, or an explicit ``flush()``); it raises on
    failure and the pipeline keeps the batch for the next attempt.

    A write whose reply is lost (a timeout after the commit) is resent. An
    ``idempotent`` recorder is given the batch's id and must store it
    atomically with the counts, applying a batch whose id it already holds
    as a no-op; other recorders are called without it and may count a
    resent batch twice.
    """

    #: Whether counts reach the rollup tables only after a drain.
    needs_drain = False
    #: Whether ``write`` takes ``batch_id`` and applies each id at most once.
    idempotent = False

    def write(self, batch: Batch, batch_id: str | None = None) -> None:
        raise NotImplementedError

    def drain(self, *, include_current: bool = False) -> int:
        """Move pending counts into the rollup tables; returns batches drained."""
        return 0

    def idle_check(self) -> None:
        """Called by a flush that had nothing to write (e.g. to notice a lost store)."""

    def close(self) -> None:
        """Release connections (after a flush, or on fork)."""
