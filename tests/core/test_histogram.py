from __future__ import annotations

import math
import random

import pytest

from perfkit.recording import histogram


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


DISTRIBUTIONS = {
    "lognormal": lambda rng: rng.lognormvariate(math.log(20_000), 1.0),
    "exponential": lambda rng: rng.expovariate(1 / 50_000),
    "uniform": lambda rng: rng.uniform(200, 2_000_000),
    "bimodal": lambda rng: (
        rng.gauss(3_000, 300) if rng.random() < 0.9 else rng.gauss(900_000, 50_000)
    ),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_merged_percentiles_are_within_ten_percent_of_exact(name: str) -> None:
    rng = random.Random(1234)
    values = [max(1.0, DISTRIBUTIONS[name](rng)) for _ in range(20_000)]
    # Record in 8 "processes", then merge, as the pipeline does.
    parts: list[histogram.Histogram] = [{} for _ in range(8)]
    for i, value in enumerate(values):
        histogram.add(parts[i % 8], value)
    merged = histogram.merged(parts)
    assert sum(merged.values()) == len(values)
    for q in (50, 90, 95, 99, 99.9):
        exact = exact_percentile(values, q)
        estimate = histogram.percentile(merged, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact <= 0.10, (q, exact, estimate)


def test_merge_accepts_json_keys() -> None:
    into: histogram.Histogram = {3: 1}
    histogram.merge(into, {"3": 2, "7": 1})
    assert into == {3: 3, 7: 1}


def test_range_edges() -> None:
    assert histogram.bucket_of(1) == 0
    assert histogram.bucket_of(10**12) == histogram.OVERFLOW
    assert histogram.percentile({}, 50) is None
    assert histogram.PER_DOUBLING >= 4


def test_bucket_bounds_contain_their_values() -> None:
    for value in (100, 101, 999, 12_345, 600_000_000 - 1):
        index = histogram.bucket_of(value)
        assert histogram.lower_bound(index) <= value < histogram.lower_bound(index + 1) * 1.0000001


def test_no_percentile_above_the_recorded_maximum() -> None:
    values = [2_800, 2_750, 2_790]  # one bucket whose midpoint lies above 2,800 µs
    counts: dict[int, int] = {}
    for value in values:
        index = histogram.bucket_of(value)
        counts[index] = counts.get(index, 0) + 1
    uncapped = histogram.percentiles(counts, (50, 99))
    assert all(p is not None and p > 2_800 for p in uncapped)
    assert histogram.percentiles(counts, (50, 99), ceiling=max(values)) == [2_800, 2_800]


def test_one_percentile_agrees_with_several() -> None:
    rng = random.Random(7)
    for _ in range(300):
        hist = {rng.randrange(0, histogram.OVERFLOW + 1): rng.randint(1, 50) for _ in range(8)}
        qs = (0, 1, 50, 90, 95, 99, 99.9, 100)
        assert [histogram.percentile(hist, q) for q in qs] == histogram.percentiles(hist, qs)
    assert histogram.percentile({}, 95) is None
