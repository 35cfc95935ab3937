"""pytest plugin: query-assertion fixtures, and recording that stays inside tests.

Registered through the ``pytest11`` entry point, so installing perfkit makes
``perfkit_max_queries``, ``perfkit_no_duplicates`` and ``perfkit_no_n_plus_one``
available in every test. Each fixture returns the context manager.

Under pytest the flush thread never runs: it would wake inside tests
without database access, trip pytest-django's blocker and log recorder
failures into unrelated tests. Instead, counts are flushed on the test's
own thread at the end of each test with database access, before its
transaction is rolled back; nothing is flushed at exit. The ini option ``perfkit_flush = off`` turns
both off (perfkit's own suite, which tests the thread itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perfkit.recording.pipeline import pipeline, remove_exit_flush
from perfkit.testing import assertions

# What gives a test database access under pytest-django.
_DB_FIXTURE = "_django_db_helper"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "perfkit_flush",
        "perfkit's recording under pytest: 'per-test' (no flush thread; flush after "
        "each test with database access) or 'off'",
        default="per-test",
    )


def _per_test(config: pytest.Config) -> bool:
    return str(config.getini("perfkit_flush")).strip().lower() != "off"


def pytest_configure(config: pytest.Config) -> None:
    if _per_test(config):
        pipeline.threads_disabled = True
        pipeline.stop_thread()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _per_test(config):
        # Left over from tests without database access: the test databases
        # are gone, an exit flush would write to the real one or fail.
        remove_exit_flush()
        pipeline.buffer.clear()


@pytest.fixture(autouse=True)
def _perfkit_flush_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Flush what the test recorded while it still has database access."""
    has_db = _DB_FIXTURE in request.fixturenames or (
        request.node.get_closest_marker("django_db") is not None
    )
    if not has_db or not _per_test(request.config):
        yield
        return
    # Depending on the database fixture makes this teardown run before its own.
    request.getfixturevalue(_DB_FIXTURE)
    yield
    pipeline.flush()  # never raises: failures are counted and logged like any flush


@pytest.fixture
def perfkit_max_queries() -> Any:
    """``with perfkit_max_queries(5): ...``"""
    return assertions.assert_max_queries


@pytest.fixture
def perfkit_no_duplicates() -> Any:
    """``with perfkit_no_duplicates(): ...``"""
    return assertions.assert_no_duplicate_queries


@pytest.fixture
def perfkit_no_n_plus_one() -> Any:
    """``with perfkit_no_n_plus_one(): ...``"""
    return assertions.assert_no_n_plus_one
