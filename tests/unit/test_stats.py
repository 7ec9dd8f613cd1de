"""workers.stats: known answers, NeuroVault's flags, JSON-ready output."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from tests import niftigen as gen
from workers import resample, stats

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def test_summary_over_finite_nonzero_values():
    data = np.zeros((4, 4, 4), np.float32)
    data[0, 0, :4] = [1, 2, 3, 4]
    data[1, 1, 1] = np.nan
    data[2, 2, 2] = np.inf
    result = stats.compute(data, AFFINE)
    assert (result["n_voxels"], result["n_finite"], result["n_nonzero"], result["n_nan"], result["n_inf"]) == (
        64, 62, 4, 1, 1)
    assert (result["min"], result["max"], result["mean"]) == (1.0, 4.0, 2.5)
    assert result["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert result["percentiles"]["50"] == pytest.approx(2.5)
    assert result["percentiles"]["1"] == pytest.approx(1.03)
    assert sum(result["histogram"]["counts"]) == 4 and len(result["histogram"]["edges"]) == 51


def test_peak_is_largest_absolute_value_in_mm():
    data = np.zeros((5, 5, 5), np.float32)
    data[1, 2, 3] = -7
    data[4, 4, 4] = 3
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [-10, -20, -30]
    peak = stats.compute(data, affine)["peak"]
    assert peak == {"value": -7.0, "voxel": [1, 2, 3], "mm": [-8.0, -14.0, -18.0]}


def test_empty_map_gives_none_and_valid_json():
    result = stats.compute(np.full((3, 3, 3), np.nan, np.float32), AFFINE)
    assert result["min"] is None and result["peak"] is None and result["percentiles"]["50"] is None
    assert result["is_thresholded"] is True and result["not_mni"] is True
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("bad_share, thresholded", [(0.85, False), (0.86, True)])
def test_is_thresholded_rule(bad_share, thresholded):
    data = np.ones(100, np.float32)
    data[: int(bad_share * 100)] = 0
    data[:10] = np.nan
    flag, perc = stats.is_thresholded(data.reshape(4, 5, 5))
    assert flag is thresholded and perc == pytest.approx(bad_share * 100)


@pytest.mark.parametrize("coverage, outside, expected", [
    (95, 80, False), (89, 21, True), (89, 20, False), (90, 50, False), (51, 30, True),
    (0, None, True), (40, 51, True), (40, 50, False),
])
def test_not_mni_rule(coverage, outside, expected):
    assert stats.not_mni(coverage, outside) is expected


def test_mni_map_is_in_mni():
    data, affine = gen.mni_like_data(4.0)
    result = stats.compute(data, affine)
    assert result["not_mni"] is False and result["is_thresholded"] is False
    assert result["brain_coverage"] > 90


def test_map_shifted_away_is_not_mni():
    data, affine = gen.mni_like_data(4.0)
    affine = affine.copy()
    affine[:3, 3] += [300, 0, 0]
    result = stats.compute(data, affine)
    assert result["brain_coverage"] == 0 and result["not_mni"] is True


def test_2mm_grid_larger_than_the_mask_is_resampled_onto_it():
    data, affine = gen.mni_like_data(2.0)
    series = np.stack([data, data], axis=-1)
    result = stats.compute(series, affine)
    assert result["not_mni"] is False and result["n_volumes"] == 2


def test_oblique_grid_gives_the_same_coverage():
    data, affine = gen.mni_like_data(4.0)
    rotation = np.eye(4)
    angle = np.radians(0.5)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    straight = stats.compute(data, affine)["brain_coverage"]
    assert stats.compute(data, rotation @ affine)["brain_coverage"] == pytest.approx(straight, abs=2)


def test_resample_nearest_flips_axes():
    source = np.arange(24).reshape(2, 3, 4)
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])
    flipped[0, 3] = 1
    np.testing.assert_array_equal(resample.resample_nearest(source, flipped, (2, 3, 4), np.eye(4)), source[::-1])


@pytest.mark.parametrize("values, expected", [
    (np.ones(10), "R"),
    (np.full(10, 0.5), "R"),
    (np.repeat([1.0, 2.0, 3.0], 4), "Pa"),
    (np.array([1.0, 1.0, 2.0]), "Other"),
    (np.repeat(np.arange(1, 1300.0), 2), "Other"),
    (np.linspace(-3, 3, 50), "Other"),
])
def test_infer_map_type(values, expected):
    assert stats.infer_map_type(values) == expected


def test_4d_summaries_per_volume():
    data = np.stack([np.full((3, 3, 3), t + 1.0) for t in range(3)], axis=-1)
    result = stats.compute(data, AFFINE)
    assert [v["max"] for v in result["volumes"]] == [1.0, 2.0, 3.0]
    assert result["max"] == 1.0 and result["volumes_truncated"] is False


def test_keys_are_stable():
    data, affine = gen.mni_like_data(8.0)
    assert sorted(stats.compute(data, affine)) == sorted([
        "shape", "n_volumes", "n_voxels", "n_finite", "n_nonzero", "n_nan", "n_inf", "min", "max", "mean",
        "std", "percentiles", "histogram", "peak", "is_thresholded", "perc_bad_voxels", "brain_coverage",
        "perc_voxels_outside", "not_mni", "inferred_map_type", "volumes", "volumes_truncated"])


@pytest.mark.parametrize("diagonal, offset", [
    ((2.0, 2.0, 2.0), (0, 0, 0)),
    ((-2.0, 2.0, 2.0), (30, -4, 6)),
    ((4.0, -3.0, 2.5), (-7, 40, -2)),
    ((1.0, 1.0, 1.0), (500, 0, 0)),
    ((4.0, -4.0, 6.0), (2, 44, 0)),  # every second or third voxel, forwards and backwards: strided views
])
def test_separable_resampling_matches_the_general_path(diagonal, offset):
    source = np.random.default_rng(1).random((20, 22, 18)) > 0.5
    source_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    target_affine = np.diag(list(diagonal) + [1.0])
    target_affine[:3, 3] = offset
    mapping = np.linalg.inv(source_affine) @ target_affine
    shape = (15, 25, 12)
    separable = resample.resample_nearest(source, source_affine, shape, target_affine)
    np.testing.assert_array_equal(separable, resample._resample_general(source, mapping, shape))


def exact_summary(values: np.ndarray) -> tuple[float, float]:
    """The mean and SD of integers in exact rational arithmetic, each rounded once."""
    whole = [int(v) for v in values]
    mean = Fraction(sum(whole), len(whole))
    variance = Fraction(sum(v * v for v in whole), len(whole)) - mean * mean
    return float(mean), math.sqrt(variance)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int8, np.uint16, np.int32])
@pytest.mark.parametrize("size", [1, 2, 3, 1000, 200_000])
def test_integer_summaries_are_exact(dtype, size):
    """Integers take the sums' path (``stats.exact_mean_std``): the mean is numpy's float for float64, bit for bit;
    the SD the exact one rounded once (numpy's two passes round each deviation: within 1e-14 of it)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(size)
    values = rng.integers(max(info.min, -40_000), min(info.max, 40_000), size, endpoint=True).astype(dtype)
    values[values == 0] = 1
    got = stats.summary(values)
    wide = values.astype(np.float64)
    assert (got["min"], got["max"]) == (float(wide.min()), float(wide.max()))
    assert got["mean"] == float(wide.mean())
    assert got["std"] == exact_summary(values)[1]
    assert got["std"] == pytest.approx(float(wide.std()), rel=1e-14, abs=0)


def test_integers_whose_squares_add_up_past_2_53_take_the_float_passes():
    """Sums of squares past 2**53 are not exact in float64: the two passes over floats, as for floats."""
    values = np.array([2_000_000_000, -2_000_000_000, 3, 1_999_999_999], np.int32)
    assert 2_000_000_000**2 * values.size >= stats.EXACT_IN_FLOAT64
    wide = values.astype(np.float64)
    assert stats.summary(values) == stats.summary(wide) == {
        "min": -2e9, "max": 2e9, "mean": float(wide.mean()), "std": float(wide.std())}


def test_mean_and_std_of_many_values_are_taken_block_by_block_without_a_whole_float64_copy(monkeypatch):
    """Past WIDE_BLOCK values the float64 copy is made one block at a time (a 2 GiB volume held 4 GiB more);
    the numbers stay numpy's float64 mean and std to within rounding."""
    import tracemalloc

    rng = np.random.default_rng(3)
    values = (rng.standard_normal(1_000_003) * 7 + 1e4).astype(np.float32)
    expected_mean, expected_std = values.astype(np.float64).mean(), values.astype(np.float64).std()
    monkeypatch.setattr(stats, "WIDE_BLOCK", 10_000)
    tracemalloc.start()
    mean, std = stats.mean_std(values)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert mean == pytest.approx(expected_mean, rel=1e-13) and std == pytest.approx(expected_std, rel=1e-10)
    assert peak < 1_000_000  # the whole float64 copy would be 8 MB
