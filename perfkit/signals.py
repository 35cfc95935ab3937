"""perfkit's signals."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent after a write to database tables is committed (at once in autocommit,
#: at the outermost commit inside ``atomic()``, never on rollback).
#: sender: None. kwargs: ``tables`` (frozenset of table names), ``using``
#: (the alias the write went through) and ``database`` (the alias owning the
#: data: a replica or test mirror resolves to its primary).
tables_changed = Signal()
