"""Each plane's extremes stand in for passes over the volume: the same range, peak and cluster box."""

import numpy as np
import pytest

from workers import clusters, planes, stats, thresholds


def _ties():
    volume = np.asfortranarray(np.random.default_rng(4).normal(size=(9, 8, 7)).astype(np.float32))
    for voxel in ((2, 5, 1), (2, 1, 6), (6, 3, 3), (2, 5, 4)):
        volume[voxel] = 9.0
    return volume


@pytest.mark.parametrize("flipped", [(False, False, False), (True, False, True), (True, True, True)])
def test_the_peak_is_looked_for_in_the_first_plane_holding_it_and_found_as_in_the_whole_volume(flipped):
    """Ties on several planes along every axis: the first in RAS C order wins, whether the search reads the
    whole volume or only the plane its extremes point to."""
    volume = _ties()
    extremes = planes.plane_extremes(volume)
    whole = planes.first_in_ras_order(volume, np.float32(9.0), flipped)
    assert planes.first_in_ras_order(volume, np.float32(9.0), flipped, extremes[0]) == whole
    ras = volume[tuple(slice(None, None, -1) if f else slice(None) for f in flipped)]
    first = np.unravel_index(np.flatnonzero(ras.ravel() == 9.0)[0], ras.shape)
    assert whole == [n - 1 - i if f else int(i) for i, n, f in zip(first, volume.shape, flipped, strict=True)]


def test_the_statistics_peak_is_the_same_with_the_planes():
    volume, affine = _ties(), np.diag([2.0, 2.0, 2.0, 1.0])
    shape = volume.shape
    assert stats.first_volume_statistics(volume, affine, shape=shape, planes=planes.plane_extremes(volume)) == \
        stats.first_volume_statistics(volume, affine, shape=shape)
    assert stats.peak(volume, affine, planes=planes.plane_extremes(volume))["voxel"] == [2, 1, 6]


def test_a_volumes_extremes_come_from_its_planes_extremes():
    volume = np.random.default_rng(5).normal(size=(6, 5, 4)).astype(np.float32)
    volume[1, 2, 3], volume[0] = np.nan, np.nan
    extremes = planes.plane_extremes(volume)
    assert planes.extremes_of(extremes) == (float(np.nanmin(volume)), float(np.nanmax(volume)))
    assert np.isnan(extremes[0][0][0])
    assert np.all(np.isnan(planes.extremes_of(planes.plane_extremes(np.full((2, 2, 2), np.nan, np.float32)))))
    assert planes.extremes_of(planes.plane_extremes(np.zeros((3, 0, 2), np.float32))) == (0.0, 0.0)
    assert [a.tolist() for a in planes.reordered(extremes, [2, 0, 1])[0]] == [a.tolist() for a in extremes[2]]


@pytest.mark.parametrize("threshold", [
    thresholds.Threshold(3.1, True, "|z| ≥ 3.1"), thresholds.Threshold(3.1, False, "z ≥ 3.1"),
    thresholds.Threshold(0.0, False, "non-zero", nonzero=True), thresholds.Threshold(0.001, False, "p", below=True),
    thresholds.Threshold(50.0, True, "none above"),
])
def test_the_cluster_box_from_the_planes_is_the_masks(threshold):
    """Infinities, NaN and blobs at the grid's border: the box and its mask are those of the whole volume's mask."""
    volume = np.random.default_rng(6).normal(scale=2.0, size=(20, 18, 16)).astype(np.float32)
    volume[0, 4, 4], volume[5, 17, 3], volume[7, 7, 7], volume[8, 8, 8] = 6.0, -5.0, np.inf, np.nan
    box, mask = clusters.suprathreshold_box(volume, threshold, planes.plane_extremes(volume))
    whole_box, whole_mask = clusters.suprathreshold_box(volume, threshold, None)
    assert box == whole_box and np.array_equal(mask, whole_mask)
    assert box == (clusters.occupied_box(threshold.mask(volume)) or (slice(0, 0),) * 3)


def test_the_planes_say_whether_every_voxel_is_finite_and_the_classes_follow():
    clean = np.random.default_rng(7).normal(size=(5, 6, 7)).astype(np.float32)
    with_nan, with_inf = clean.copy(), clean.copy()
    with_nan[2, 3, 4], with_inf[1, 1, 1] = np.nan, -np.inf
    assert planes.plane_extremes(clean).all_finite
    for awkward in (with_nan, with_inf):
        extremes = planes.plane_extremes(awkward)
        assert not extremes.all_finite
        assert planes.extremes_of(extremes) == (float(np.nanmin(awkward)), float(np.nanmax(awkward)))
        told = stats.classify(awkward, all_finite=extremes.all_finite)
        assert (told.n_nan, told.n_inf) == (int(np.isnan(awkward).sum()), int(np.isinf(awkward).sum()))
    assert planes.plane_extremes(np.arange(8, dtype=np.int16).reshape(2, 2, 2)).all_finite
    assert planes.reordered(planes.plane_extremes(with_nan), [1, 0, 2]).all_finite is False
