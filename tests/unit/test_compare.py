"""Comparing two maps on the MNI 2 mm grid: correlations, Dice, and the pictures."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.niftigen import mni_blobs_data, mni_like_data
from workers import compare, thresholds

BLOBS = [((-24, -2, -14), 6.0), ((40, -18, 56), 5.0), ((-6, -20, 40), -5.5)]


def on_grid(data, affine):
    return compare.on_mni_grid(data, affine)


def z_threshold(volume):
    return thresholds.choose("Z", volume)


def test_identical_maps_give_r_1_and_dice_1():
    data, affine = mni_blobs_data(BLOBS, brain=0.5)
    a = on_grid(data, affine)
    result = compare.compare(a, a.copy(), z_threshold(a), z_threshold(a))
    assert result["pearson_r"] == pytest.approx(1.0) and result["spearman_r"] == pytest.approx(1.0)
    assert result["dice"] == 1.0 and result["n_above_a"] > 0 and result["n_voxels"] > 100_000


def test_a_map_and_its_negative_give_r_minus_1():
    data, affine = mni_blobs_data(BLOBS, brain=0.5)
    a = on_grid(data, affine)
    result = compare.compare(a, -a, z_threshold(a), z_threshold(-a))
    assert result["pearson_r"] == pytest.approx(-1.0) and result["spearman_r"] == pytest.approx(-1.0)
    assert result["dice"] == 1.0  # the same voxels pass |z| >= 3.1


def test_maps_on_different_grids_are_compared_on_the_mni_grid():
    fine, fine_affine = mni_like_data(2.0)
    coarse, coarse_affine = mni_like_data(4.0)
    a, b = on_grid(fine, fine_affine), on_grid(coarse, coarse_affine)
    assert a.shape == b.shape == compare.mni_brain_mask(2)[0].shape
    result = compare.compare(a, b, z_threshold(a), z_threshold(b))
    assert result["pearson_r"] > 0.8 and 0.5 < result["dice"] < 1.0


def test_disjoint_maps_and_empty_maps():
    a = on_grid(*mni_blobs_data([((-24, -2, -14), 6.0)], brain=0.5))
    b = on_grid(*mni_blobs_data([((40, -18, 56), 6.0)], brain=0.5, seed=1))
    assert compare.compare(a, b, z_threshold(a), z_threshold(b))["dice"] == 0.0
    empty = np.zeros_like(a)
    result = compare.compare(a, empty, z_threshold(a), None)
    assert result["pearson_r"] is None and result["n_voxels"] == 0 and result["dice"] is None


def test_threshold_round_trips_through_the_stored_record():
    from workers.clusters import threshold_record

    chosen = thresholds.choose("T", np.linspace(-5, 5, 100), dof=20)
    assert compare.threshold_from_record(threshold_record(chosen)) == chosen
    assert compare.threshold_from_record(None) is None


def test_pictures_are_pngs():
    data, affine = mni_blobs_data(BLOBS, brain=0.5)
    a = on_grid(data, affine)
    scatter = Image.open(io.BytesIO(compare.scatter_png(a, -a, ("map a", "map b"))))
    assert scatter.format == "PNG" and scatter.size == (516, 516)
    pixels = np.asarray(scatter.convert("RGB"))
    assert (pixels[..., 2] > pixels[..., 0] + 60).any()  # blue hexagons were drawn
    slices = Image.open(io.BytesIO(compare.slices_png(a, -a, (-24, -2, -14), (z_threshold(a), z_threshold(-a)))))
    assert slices.format == "PNG" and slices.height > 2 * 150
    empty = Image.open(io.BytesIO(compare.scatter_png(a, np.zeros_like(a), ("a", "b"))))
    assert empty.size == (516, 516)
