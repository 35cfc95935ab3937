"""Fixtures shared by the cache tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection


@pytest.fixture
def unsynced_sqlite(transactional_db: None) -> Iterator[None]:
    """These commits need not survive a power cut: skip SQLite's file sync on each."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA synchronous = OFF")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA synchronous = {int(previous)}")
