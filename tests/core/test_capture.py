"""What a Capture counts: totals per alias, duplicates, N+1 fingerprints, failures, sampling."""

from __future__ import annotations

import pytest
from django.db import connection

from perfkit import observe
from perfkit.capture import Capture

IN_2 = "SELECT * FROM book WHERE author_id IN (%s, %s)"
IN_3 = "SELECT * FROM book WHERE author_id IN (%s, %s, %s)"
ONE = "SELECT * FROM author WHERE id = %s"


def _run(capture: Capture, alias: str, sql: str, params: object, failed: bool = False) -> None:
    capture.query(alias, sql, params, False, 0.5, failed)


def test_totals_per_alias_and_in_lists_folded_into_one_fingerprint() -> None:
    capture = Capture(threshold=3)
    _run(capture, "default", IN_2, (1, 2))
    _run(capture, "default", IN_3, (1, 2, 3))
    _run(capture, "replica", IN_2, (4, 5))
    _run(capture, "default", ONE, (1,), failed=True)
    assert capture.queries == 4 and capture.failed == 1
    assert capture.db_time == pytest.approx(2.0)
    assert capture.by_alias == {"default": [3, 1.5], "replica": [1, 0.5]}
    assert capture.duplicates == 0
    [stat] = capture.n_plus_one  # 3 IN lists of any length: one fingerprint
    assert stat.count == 3 and stat.time == pytest.approx(1.5) and stat.sql == IN_2
    assert "IN (%s, ...)" in next(iter(capture.fingerprints))


def test_duplicates_by_sql_and_parameters_unhashable_ones_included() -> None:
    capture = Capture()
    for params in ((1,), (1,), (2,), [3], [3], {"a": [1]}, {"a": [1]}, None, None):
        _run(capture, "default", ONE, params)
    _run(capture, "other", ONE, (1,))  # the same statement on another alias repeats it too
    assert capture.queries == 10 and capture.by_alias == {"default": [9, 4.5], "other": [1, 0.5]}
    assert capture.duplicates == 5
    [stat] = capture.repeated
    assert stat.duplicates == 5 and stat.count == 10
    assert stat.site is not None and stat.site.filename == __file__


def test_without_detail_only_totals_are_kept() -> None:
    capture = Capture(detailed=False, threshold=2)
    for _ in range(5):
        _run(capture, "default", ONE, (1,))
    _run(capture, "other", IN_2, (1, 2), failed=True)
    assert capture.queries == 6 and capture.failed == 1
    assert capture.by_alias == {"default": [5, 2.5], "other": [1, 0.5]}
    assert capture.duplicates == 0 and not capture.fingerprints and not capture.n_plus_one


def test_params_kept_once_per_fingerprint_when_asked() -> None:
    capture = Capture(keep_params=True)
    _run(capture, "default", ONE, (7,))
    _run(capture, "default", ONE, (8,))
    [stat] = capture.fingerprints.values()
    assert stat.params == "(7,)"


@pytest.mark.django_db
def test_call_site_of_a_repeated_statement_is_this_file() -> None:
    capture = Capture(threshold=3)
    with observe.observing(capture), connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT 1")
    assert capture.queries == 3 and capture.duplicates == 2
    [stat] = capture.n_plus_one
    assert stat.site is not None and stat.site.filename == __file__
    assert stat.site.function == "test_call_site_of_a_repeated_statement_is_this_file"
