"""The MNI brain mask shipped in workers/data is nilearn's, voxel for voxel."""

import numpy as np

from workers import stats


def test_shipped_mask_is_nilearns():
    from nilearn.datasets import load_mni152_brain_mask

    expected = load_mni152_brain_mask(resolution=2)
    mask, affine = stats.mni_brain_mask()
    assert mask.shape == expected.shape and mask.dtype == bool
    assert np.array_equal(mask, np.asarray(expected.dataobj) > 0)
    assert np.allclose(affine, expected.affine)
