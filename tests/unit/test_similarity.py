"""The similarity representation (resampling onto the 4 mm mask) and Pearson r against numpy."""

import json

import numpy as np
import pytest

from tests.niftigen import mni_affine, mni_like_data
from workers import similarity
from workers.mni import mni_brain_mask


def mask_mm():
    """The millimetre coordinates of the 4 mm mask's voxels (3 x n)."""
    mask, affine = mni_brain_mask(4)
    ijk = np.argwhere(mask).T
    return affine[:3, :3] @ ijk + affine[:3, 3:4]


def ramp_map(voxel_mm):
    """A map linear in space (non-zero everywhere in the brain) on an MNI grid of this voxel size."""
    from tests.niftigen import mni_shape

    affine = mni_affine(voxel_mm)
    ijk = np.indices(mni_shape(voxel_mm)).reshape(3, -1)
    mm = affine[:3, :3] @ ijk + affine[:3, 3:4]
    values = 1000 + mm[0] + 2 * mm[1] + 3 * mm[2]
    return values.reshape(mni_shape(voxel_mm)).astype(np.float32), affine


def test_a_linear_map_on_a_2mm_grid_lands_on_the_mask_exactly():
    data, affine = ramp_map(2.0)
    values = similarity.on_mask(data, affine)
    x, y, z = mask_mm()
    assert values.shape == (similarity.n_mask_voxels(),) == (29398,)
    assert np.allclose(values, 1000 + x + 2 * y + 3 * z, atol=1e-2)


def test_a_map_on_the_mask_grid_is_read_as_it_is():
    mask, affine = mni_brain_mask(4)
    data = np.random.default_rng(1).standard_normal(mask.shape).astype(np.float32) + 10
    assert np.allclose(similarity.on_mask(data, affine), data[mask])


def test_zero_and_nan_voxels_hold_no_value_and_do_not_pull_neighbours_to_zero():
    data, affine = ramp_map(2.0)
    data[: data.shape[0] // 2] = 0
    data[:, :, :5] = np.nan
    values = similarity.on_mask(data, affine)
    x, y, z = mask_mm()
    expected = 1000 + x + 2 * y + 3 * z
    present = ~np.isnan(values)
    assert 0 < present.sum() < values.size
    assert np.allclose(values[present], expected[present], rtol=0.02)
    # the zeroed half is x > 0 (x is flipped on FSL's grid): no value there
    assert not present[x > 2].any()


def test_outside_the_field_of_view_is_missing():
    mask, affine = mni_brain_mask(4)
    small = np.ones((10, 10, 10), np.float32)
    values = similarity.on_mask(small + np.arange(10)[:, None, None], affine)
    assert np.isnan(values).sum() > 0.9 * values.size


def test_first_volume_of_a_series():
    data, affine = mni_like_data(4.0)
    series = np.stack([data, -data], axis=-1)
    assert np.array_equal(similarity.on_mask(series, affine), similarity.on_mask(data, affine), equal_nan=True)


def test_memory_order_does_not_change_the_values():
    """The interpolation corners are kept per grid and memory layout: C, Fortran and strided views agree."""
    data, affine = ramp_map(2.0)
    data[:40] = 0
    expected = similarity.on_mask(np.ascontiguousarray(data), affine)
    wider = np.zeros(data.shape + (2,), np.float32)
    wider[..., 0] = data
    for same in (np.asfortranarray(data), wider[..., 0]):
        assert np.array_equal(similarity.on_mask(same, affine), expected, equal_nan=True)


def test_representation_is_standardised_float16_and_counts_voxels():
    data, affine = mni_like_data(4.0)
    rep = similarity.represent(data, affine, map_type="T")
    assert rep.values.dtype == np.float16 and rep.reason is None
    present = ~np.isnan(rep.values)
    assert rep.n_voxels == present.sum() > 20000
    assert abs(float(rep.values[present].astype(np.float64).mean())) < 1e-3
    assert abs(float(rep.values[present].astype(np.float64).std()) - 1) < 1e-3
    assert json.loads(json.dumps(rep.summary())) == {"n_voxels": rep.n_voxels, "n_mask_voxels": 29398,
                                                     "reason": None}


@pytest.mark.parametrize(("map_type", "not_mni", "words"), [
    ("R", False, "region of interest"), ("Pa", False, "parcellation"), ("T", True, "MNI space")])
def test_no_vector_for_rois_parcellations_and_maps_outside_mni(map_type, not_mni, words):
    data, affine = mni_like_data(4.0)
    rep = similarity.represent(data, affine, map_type=map_type, not_mni=not_mni)
    assert rep.values is None and words in rep.reason


def test_constant_map_gets_no_vector_and_a_reason():
    mask, affine = mni_brain_mask(4)
    rep = similarity.represent(np.full(mask.shape, 3.0, np.float32), affine)
    assert rep.values is None and "constant" in rep.reason
    assert json.dumps(rep.summary())


def test_map_with_almost_no_brain_voxels_gets_a_reason():
    mask, affine = mni_brain_mask(4)
    data = np.zeros(mask.shape, np.float32)
    data[22, 27, 22:25] = [1, 2, 3]
    rep = similarity.represent(data, affine)
    assert rep.values is None and "Only" in rep.reason


def test_r_equals_numpy_corrcoef_over_common_voxels():
    rng = np.random.default_rng(7)
    n = similarity.n_mask_voxels()
    base = rng.standard_normal(n)
    query = (base + 0.5 * rng.standard_normal(n)).astype(np.float32)
    rows = np.stack([base + s * rng.standard_normal(n) for s in (0.1, 1.0, 3.0)] + [-base, rng.standard_normal(n)])
    query[rng.random(n) < 0.2] = np.nan
    rows[rng.random(rows.shape) < 0.3] = np.nan
    rows16 = rows.astype(np.float16)
    r, common = similarity.pearson_many(query, rows16)
    for i, row in enumerate(rows16):
        both = ~np.isnan(query) & ~np.isnan(row)
        assert common[i] == both.sum()
        assert r[i] == pytest.approx(np.corrcoef(query[both], row[both].astype(np.float64))[0, 1], abs=1e-5)
        # and against the unrounded values, as the issue measures it
        assert r[i] == pytest.approx(np.corrcoef(query[both], rows[i][both])[0, 1], abs=1e-3)
    assert r[0] > r[1] > r[2] > 0 > r[3]


def test_r_of_a_map_with_itself_and_its_negative():
    data, affine = mni_like_data(4.0)
    a = similarity.represent(data, affine).values
    b = similarity.represent(-data, affine).values
    assert similarity.pearson(a, a) == pytest.approx(1.0, abs=1e-4)
    assert similarity.pearson(a, b) == pytest.approx(-1.0, abs=1e-4)


def test_missing_voxels_are_deleted_pairwise():
    """A voxel missing in either map does not count, and r is over the rest only."""
    n = similarity.n_mask_voxels()
    a = np.linspace(-1, 1, n).astype(np.float32)
    b = a.copy()
    b[: n // 2] = np.nan
    a[-10:] = np.nan
    r, common = similarity.pearson_many(a, b[None, :])
    assert common[0] == n - n // 2 - 10
    assert r[0] == pytest.approx(1.0)


def test_undefined_r_is_excluded_with_a_reason_never_nan():
    n = similarity.n_mask_voxels()
    a = np.random.default_rng(3).standard_normal(n).astype(np.float32)
    constant_on_overlap = np.full(n, np.nan, np.float32)
    constant_on_overlap[:500] = 1.0
    tiny_overlap = np.full(n, np.nan, np.float32)
    tiny_overlap[:20] = np.arange(20)
    rows = np.stack([a, constant_on_overlap, tiny_overlap])
    ranked = similarity.ranked_exactly(a, np.arange(3), rows)
    assert list(ranked.rows) == [0]
    assert list(ranked.undefined_rows) == [1, 2]
    assert [similarity.undefined_reason(c) for c in ranked.undefined_common] == [
        similarity.UNDEFINED_REASONS["constant"], similarity.UNDEFINED_REASONS["overlap"]]
    assert similarity.pearson(a, constant_on_overlap) is None
    assert not np.isnan(ranked.r).any()


def test_vector_bytes_round_trip_and_refuse_anything_else():
    values = np.linspace(-2, 2, similarity.n_mask_voxels()).astype(np.float16)
    values[5] = np.nan
    back = similarity.vector_from_bytes(similarity.vector_bytes(values))
    assert np.array_equal(back, values, equal_nan=True)
    with pytest.raises(ValueError, match="not a similarity vector"):
        similarity.vector_from_bytes(similarity.vector_bytes(values[:100]))


def smooth_maps(rng, n, sigma=1.5):
    """Smooth random maps on the mask (Gaussian-filtered noise), as group statistics are."""
    from scipy.ndimage import gaussian_filter

    mask, _ = mni_brain_mask(4)
    return np.array([gaussian_filter(rng.standard_normal(mask.shape).astype(np.float32), sigma)[mask]
                     for _ in range(n)])


def test_first_pass_then_exact_r_gives_the_exact_top_k():
    rng = np.random.default_rng(11)
    patterns = smooth_maps(rng, 20)
    rows = rng.standard_normal((2000, 20)).astype(np.float32) @ patterns + smooth_maps(rng, 2000) * patterns.std()
    rows = ((rows - rows.mean(1, keepdims=True)) / rows.std(1, keepdims=True)).astype(np.float16)
    query = rows[17].astype(np.float32) + smooth_maps(rng, 1)[0] / patterns.std()
    picked = similarity.candidate_rows(similarity.reduced(query), similarity.reduced(rows), pool=200)
    top = similarity.ranked_exactly(query, picked, rows[picked])
    exact = np.array([np.corrcoef(query, row.astype(np.float32))[0, 1] for row in rows])
    assert top.rows[0] == 17
    assert list(top.rows[:10]) == list(np.argsort(-exact)[:10])
    assert np.allclose(top.r[:10], exact[top.rows[:10]], atol=1e-3)


def test_sampling_at_the_mask_equals_resampling_the_grid_then_masking():
    from workers.resample import resample_linear

    mask, mask_affine = mni_brain_mask(4)
    affine = mni_affine(3.0)
    affine[:3, 3] += [1.3, -2.1, 0.7]
    volume = np.random.default_rng(5).standard_normal((60, 70, 55)).astype(np.float32)
    expected = resample_linear(volume, affine, mask.shape, mask_affine)[mask]
    assert np.allclose(similarity.sampled_at_mask(volume, affine), expected, equal_nan=True, atol=1e-4)


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_corners_are_read_in_the_grids_memory_order(order):
    """Each mask voxel's corners, listed in the map's memory order, still land on that mask voxel."""
    mask, affine = mni_brain_mask(4)
    data = np.asarray(np.random.default_rng(2).standard_normal(mask.shape).astype(np.float32) + 10, order=order)
    corners = similarity.mask_corners(data.shape, similarity._element_strides(data), affine.tobytes())
    assert np.all(np.diff(corners.index[0]) >= 0)
    assert corners.index.flags.c_contiguous and corners.weight.flags.c_contiguous
    assert sorted(corners.at.tolist()) == np.flatnonzero(corners.inside).tolist()
    assert np.allclose(similarity.on_mask(data, affine), data[mask])
    assert np.allclose(similarity.sampled_at_mask(data, affine), data[mask])


@pytest.mark.parametrize(("voxel_mm", "corners"), [(1.0, 1), (2.0, 1), (3.0, 8)])
def test_corners_that_weigh_nothing_are_left_out_and_the_values_stay(voxel_mm, corners):
    """On the MNI 1 and 2 mm grids each mask voxel's centre is a voxel's centre: one corner in eight is read."""
    from workers.resample import resample_linear

    data, affine = mni_like_data(voxel_mm)
    kept = similarity.mask_corners(data.shape, similarity._element_strides(data), affine.tobytes())
    assert kept.index.shape[0] == corners
    mask, mask_affine = mni_brain_mask(4)
    expected = resample_linear(data, affine, mask.shape, mask_affine)[mask]
    assert np.allclose(similarity.sampled_at_mask(data, affine), expected, equal_nan=True, atol=1e-4)
