"""Exact order statistics and histogram counts without a sort: the same numbers as sorting."""

import numpy as np
import pytest

from workers import ranks


def _samples():
    rng = np.random.default_rng(7)
    yield rng.standard_normal(50_000).astype(np.float32)
    yield rng.standard_normal(50_000).astype(np.float32) ** 7  # most values crowd one bucket
    yield np.round(rng.standard_normal(30_000) * 3).astype(np.float32)  # ties
    outliers = rng.exponential(size=20_000).astype(np.float32)
    outliers[:10] = 3e38
    yield outliers
    both_ends = rng.standard_normal(20_000).astype(np.float32)
    both_ends[:3], both_ends[3:6] = -3e38, 3e38  # the range overflows float32: counted in float64
    yield both_ends
    yield rng.integers(-5, 300, 40_000).astype(np.int16)
    yield rng.standard_normal(100)  # fewer values than buckets, float64


@pytest.mark.parametrize("values", list(_samples()))
def test_order_statistics_are_the_sorted_values_at_those_ranks(values):
    wanted = np.array([0, 1, values.size // 100, values.size // 2, values.size // 2 + 1, values.size - 2,
                       values.size - 1])
    found = ranks.Ranks(values, values.min().item(), values.max().item()).at(wanted)
    assert np.array_equal(found, np.sort(values)[wanted])


@pytest.mark.parametrize("values", list(_samples()))
def test_histogram_counts_are_those_of_the_sorted_values(values):
    edges = np.linspace(float(values.min()), float(values.max()), 51)
    ordered = np.sort(values)
    cuts = np.searchsorted(ordered, edges[1:-1].astype(values.dtype), side="left")
    expected = np.diff(np.concatenate([[0], cuts, [values.size]]))
    counted = ranks.Ranks(values, values.min().item(), values.max().item())
    below = counted.below(edges[1:-1].astype(values.dtype))
    assert np.array_equal(ranks.histogram_counts(below, values.size), expected)


def test_one_repeated_value():
    values = np.full(10_000, 2.5, np.float32)
    counted = ranks.Ranks(values, 2.5, 2.5)
    assert np.array_equal(counted.at([0, 5000, 9999]), [2.5, 2.5, 2.5])
    below = counted.below(np.linspace(2.0, 3.0, 51)[1:-1].astype(np.float32))
    assert ranks.histogram_counts(below, values.size).sum() == 10_000


def test_ranks_and_limits_looked_up_together():
    values = np.random.default_rng(5).standard_normal(20_000).astype(np.float32)
    limits = np.array([-1.0, 0.0, 0.5], np.float32)
    found, below = ranks.Ranks(values, values.min().item(), values.max().item()).look_up([10, 10_000], limits)
    ordered = np.sort(values)
    assert np.array_equal(found, ordered[[10, 10_000]])
    assert np.array_equal(below, np.searchsorted(ordered, limits, side="left"))


def test_limits_beyond_the_values_count_none_or_all():
    values = np.random.default_rng(6).standard_normal(20_000).astype(np.float32)
    counted = ranks.Ranks(values, values.min().item(), values.max().item())
    limits = np.array([-3e38, values.min(), values.max(), 3e38], np.float32)
    assert counted.below(limits).tolist() == [0, 0, values.size - 1, values.size]


@pytest.mark.parametrize("values", list(_samples()))
def test_values_counted_block_by_block_give_the_same_numbers_in_two_bytes_each(values, monkeypatch):
    """Large volumes are bucketed in blocks (bounded temporaries, two-byte buckets): block edges change nothing."""
    monkeypatch.setattr(ranks, "BLOCK", 4_999)
    wanted = np.array([0, values.size // 3, values.size // 2, values.size - 1])
    edges = np.linspace(float(values.min()), float(values.max()), 51)[1:-1].astype(values.dtype)
    counted = ranks.Ranks(values, values.min().item(), values.max().item())
    ordered = np.sort(values)
    found, below = counted.look_up(wanted, edges)
    assert np.array_equal(found, ordered[wanted])
    assert np.array_equal(below, np.searchsorted(ordered, edges, side="left"))
    assert counted.sorted is not None or counted.bucket.itemsize == 2
