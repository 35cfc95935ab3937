"""The database recorder: the embedded default, one transaction per flush.

Each flush's transaction also inserts its batch id as a
:class:`~perfkit.models.DrainToken` (``flush:<id>``). A batch resent after
a lost reply finds its token and writes nothing. Once a later batch is
written, the earlier ids can never be resent: they are deleted in that
later transaction, so the table holds about one token per process.

On SQLite a write lock held past the busy timeout (another process's long
transaction) is waited out: the flush is retried a few times, which its
token makes safe, before it counts as a failure.
"""

from __future__ import annotations

import time

from django.db import IntegrityError, OperationalError, connections, transaction

from perfkit.conf import perfkit_settings
from perfkit.models import DrainToken
from perfkit.recording.backends.base import Recorder
from perfkit.recording.buffer import Batch
from perfkit.recording.store import merge_batch

TOKEN_PREFIX = "flush:"
# Pauses between attempts of a flush that found an SQLite database locked.
LOCKED_RETRY_SECONDS = (0.05, 0.2, 0.5, 1.0)


class DatabaseRecorder(Recorder):
    """Upserts the minute, hour, day and total rows of every flushed batch."""

    idempotent = True

    def __init__(self) -> None:
        # Tokens of batches written before the last one: never resent again.
        self._settled: list[str] = []

    def write(self, batch: Batch, batch_id: str | None = None) -> None:
        if not batch:
            return
        using = perfkit_settings.DATABASE_ALIAS
        token = f"{TOKEN_PREFIX}{batch_id}" if batch_id else None
        for pause in (*LOCKED_RETRY_SECONDS, None):
            try:
                self._write(batch, token, using)
                return
            except OperationalError as exc:
                if pause is None or not _is_locked(exc):
                    raise
            time.sleep(pause)

    def _write(self, batch: Batch, token: str | None, using: str) -> None:
        settled = [old for old in self._settled if old != token]
        with transaction.atomic(using=using):
            if token is None or _claim(token, using):
                merge_batch(batch, using)
            if settled:
                DrainToken.objects.using(using).filter(token__in=settled).delete()
        self._settled = [token] if token else []

    def close(self) -> None:
        connections[perfkit_settings.DATABASE_ALIAS].close()


def _claim(token: str, using: str) -> bool:
    """Insert ``token`` in the caller's transaction; False if it is there already.

    A savepoint keeps the transaction usable after the unique violation
    (and on PostgreSQL the insert waits for a concurrent, uncommitted
    insert of the same token, then fails: the batch is never written twice).
    """
    try:
        with transaction.atomic(using=using):
            DrainToken.objects.using(using).create(token=token)
    except IntegrityError:
        return False
    return True


def _is_locked(exc: OperationalError) -> bool:
    """SQLite's busy error: another connection holds the lock."""
    return "database is locked" in str(exc) or "database table is locked" in str(exc)
