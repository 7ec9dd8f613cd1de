"""A large uncompressed 4D NIfTI written volume by volume, so making 200 MB takes seconds and little memory."""

import hashlib

import nibabel as nib
import numpy as np

VOLUME_SHAPE = (64, 64, 64)


def big_4d_nifti(path, target_bytes, seed=0):
    """A float32 (64, 64, 64, t) series of about ``target_bytes``; returns (path, size, sha256)."""
    volume_bytes = int(np.prod(VOLUME_SHAPE)) * 4
    volumes = max(1, round(target_bytes / volume_bytes))
    header = nib.Nifti1Header()
    header.set_data_shape((*VOLUME_SHAPE, volumes))
    header.set_data_dtype(np.float32)
    header.set_zooms((3.0, 3.0, 3.0, 2.0))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-96.0, -132.0, -78.0]
    header.set_sform(affine, 4)
    header.set_qform(affine, 4)
    header.set_data_offset(352)
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for block in (header.binaryblock, b"\0" * 4):
            handle.write(block)
            digest.update(block)
        for _ in range(volumes):
            data = rng.standard_normal(VOLUME_SHAPE, dtype=np.float32).tobytes(order="F")
            handle.write(data)
            digest.update(data)
    return path, 352 + volumes * volume_bytes, digest.hexdigest()
