"""The MNI brain masks shipped in workers/data are nilearn's, voxel for voxel; the template and resampling."""

import numpy as np
import pytest

from workers import mni, resample


@pytest.mark.parametrize("resolution", mni.MASK_RESOLUTIONS)
def test_shipped_mask_is_nilearns(resolution):
    from nilearn.datasets import load_mni152_brain_mask

    expected = load_mni152_brain_mask(resolution=resolution)
    mask, affine = mni.mni_brain_mask(resolution)
    assert mask.shape == expected.shape and mask.dtype == bool
    assert np.array_equal(mask, np.asarray(expected.dataobj) > 0)
    assert np.allclose(affine, expected.affine)


def test_no_mask_at_other_resolutions():
    with pytest.raises(ValueError, match="3 mm"):
        mni.mni_brain_mask(3)


def test_template_is_nilearns_1mm_t1():
    from nilearn.datasets import load_mni152_template

    template, affine = mni.mni_template()
    expected = load_mni152_template(resolution=1)
    assert template.shape == expected.shape and template.dtype == np.float32
    assert np.allclose(affine, expected.affine)
    assert 0.0 <= template.min() and template.max() == 1.0
    assert not template.flags.writeable


def test_linear_resampling_of_a_ramp_is_exact_and_nan_outside():
    """A linear ramp is reproduced exactly by trilinear interpolation; outside the field of view is NaN."""
    source = np.add.outer(np.add.outer(np.arange(10.0), 2 * np.arange(12.0)), 3 * np.arange(8.0))
    source_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    target_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    out = resample.resample_linear(source, source_affine, (30, 30, 20), target_affine)
    x, y, z = 5, 7, 3
    assert out[x, y, z] == pytest.approx(x / 2 + 2 * y / 2 + 3 * z / 2)
    assert np.isnan(out[25, 0, 0])
    assert out[0, 0, 0] == pytest.approx(0.0)


def test_linear_resampling_keeps_nan_missing():
    source = np.ones((6, 6, 6), np.float32)
    source[3, 3, 3] = np.nan
    out = resample.resample_linear(source, np.eye(4), (6, 6, 6), np.eye(4), outside=0.0)
    assert np.isnan(out[3, 3, 3]) and out[0, 0, 0] == 1.0


def test_a_pixel_grids_voxel_coordinates_are_kept_read_only():
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [90, -126, -72]
    first = resample._voxel_coordinates(affine.tobytes(), 0, 0, (-80.0, 0.5, 320))
    assert resample._voxel_coordinates(affine.tobytes(), 0, 0, (-80.0, 0.5, 320)) is first
    assert not first.flags.writeable
    assert np.allclose(first, (90 - (-80.0 + 0.5 * np.arange(320))) / 2)


@pytest.mark.parametrize("nearest", [False, True])
def test_reads_along_an_axis_interpolate_window_by_window_as_whole(nearest):
    """The reads kept per pixel grid give the same values for a run of pixels as for all of them, NaN past the
    ends, and the run of pixels reading a marked voxel."""
    rows = np.arange(6, dtype=np.float32)[:, None] * np.array([[1.0, 10.0]], np.float32)
    coordinates = np.array([-0.7, -0.2, 0.0, 0.5, 1.25, 2.0, 4.9, 5.2, 5.6])
    reads = resample._Reads.at(coordinates, 6, nearest)
    whole = reads.blend(rows, 0)
    expected = np.floor(np.clip(coordinates, 0, 5) + 0.5) if nearest else np.clip(coordinates, 0, 5)
    inside = (coordinates > -0.5) & (coordinates < 5.5)
    assert np.allclose(whole[inside, 1], 10 * expected[inside]) and np.all(np.isnan(whole[~inside]))
    run = slice(2, 6)
    assert np.array_equal(reads.within(run).blend(rows, 0), whole[run], equal_nan=True)
    marked = np.zeros(6, bool)
    marked[2] = True
    assert reads.pixels_reading(marked) == (slice(5, 6) if nearest else slice(4, 6))
    assert np.array_equal(resample._blend_along(rows, 0, coordinates, nearest), whole, equal_nan=True)
