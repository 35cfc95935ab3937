"""Retrying short statements that SQLite refused with "database is locked".

SQLite, the embedded default, has one writer at a time. Its busy timeout
makes a connection wait for the lock, but not always: a connection that
holds a read and wants to write while another one waits to commit gets
``SQLITE_BUSY`` at once (the deadlock SQLite refuses to wait out). The
export engine keeps its statements short and runs each of them through
:func:`retry_locked`, so a writer elsewhere (the web process, beat, the
flush thread) slows an export down instead of failing it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError

T = TypeVar("T")
logger = logging.getLogger(__name__)

LOCKED_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "the lock is taken" (worth trying again)."""
    return isinstance(exc, OperationalError) and any(
        message in str(exc).lower() for message in LOCKED_MESSAGES
    )


def retry_locked(
    statement: Callable[[], T],
    *,
    tries: int = 8,
    first_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run ``statement``, again after a growing, jittered pause while the database is locked.

    Other errors, and the last "locked" one, are raised. ``statement`` must
    be safe to repeat: one short read, or one autocommitted write.
    """
    delay = first_delay
    for attempt in range(1, tries + 1):
        try:
            return statement()
        except OperationalError as exc:
            if attempt == tries or not is_locked(exc):
                raise
            logger.info("Database locked (try %d of %d); trying again", attempt, tries)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")  # pragma: no cover
