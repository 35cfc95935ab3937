"""pytest plugin: fixtures wrapping :mod:`perfkit.testing`'s assertions.

Registered through the ``pytest11`` entry point, so installing perfkit makes
``perfkit_max_queries``, ``perfkit_no_duplicates`` and ``perfkit_no_n_plus_one``
available in every test. Each fixture returns the context manager.
"""

from __future__ import annotations

from typing import Any

import pytest

from perfkit.testing import assertions


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
