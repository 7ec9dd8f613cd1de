"""MNI152 space: the shipped brain masks, the anatomical template, and a map's coverage of the brain.

Shared by the statistics (NeuroVault's ``not_mni`` coverage), the renderer
(outlines, slices over anatomy), similarity (the 4 mm representation) and the
cluster tables (atlas lookups). Everything is loaded once per process and
read-only.

* Brain masks (2 mm and 4 mm) are constants of nilearn, shipped as small files
  under ``workers/data`` (decision 0005): building them at run time means
  importing nilearn and resampling its 1 mm template, seconds and 120 MiB.
* The 1 mm MNI152 T1 template (ICBM 2009a symmetric, the one nilearn plots
  over) is read straight from nilearn's package data with nibabel, in about
  50 ms, without importing nilearn.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from .resample import resample_nearest

DATA_DIR = Path(__file__).resolve().parent / "data"
MASK_RESOLUTIONS = (2, 4)
TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def mask_file(resolution: int = 2) -> Path:
    """Where the shipped brain mask of that resolution (mm) lives."""
    if resolution not in MASK_RESOLUTIONS:
        raise ValueError(f"no shipped MNI brain mask at {resolution} mm (have {MASK_RESOLUTIONS})")
    return DATA_DIR / f"mni152_brain_mask_{resolution}mm.nii.gz"


@lru_cache(maxsize=len(MASK_RESOLUTIONS))
def mni_brain_mask(resolution: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """nilearn's MNI152 brain mask at 2 or 4 mm (boolean, affine), loaded once per process.

    A unit test checks each shipped file against
    ``nilearn.datasets.load_mni152_brain_mask`` voxel for voxel.
    """
    import nibabel as nib

    image = nib.load(mask_file(resolution))
    return _read_only(np.asarray(image.dataobj) > 0), _read_only(np.array(image.affine, dtype=np.float64))


def write_mni_brain_mask(resolution: int = 2, path=None) -> Path:
    """(Re)make a shipped mask from nilearn.

    ``python -c "from workers.mni import write_mni_brain_mask as w; w(2); w(4)"``
    """
    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask

    image = load_mni152_brain_mask(resolution=resolution)
    mask = (np.asarray(image.dataobj) > 0).astype(np.uint8)
    out = nib.Nifti1Image(mask, image.affine)
    out.header.set_data_dtype(np.uint8)
    out.header.set_sform(image.affine, 4)
    out.header.set_qform(image.affine, 4)
    path = Path(path) if path is not None else mask_file(resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(out, path)
    return path


def template_file() -> Path:
    """nilearn's 1 mm MNI152 T1 template, found without importing nilearn's heavy modules."""
    spec = importlib.util.find_spec("nilearn")
    return Path(spec.origin).parent / "datasets" / "data" / TEMPLATE_FILE


@lru_cache(maxsize=1)
def mni_template() -> tuple[np.ndarray, np.ndarray]:
    """The 1 mm MNI152 T1 template as float32 in [0, 1] (0 outside the head), and its affine; loaded once."""
    import nibabel as nib

    image = nib.load(template_file())
    data = np.asarray(image.dataobj, dtype=np.float32)
    top = float(data.max()) or 1.0
    return _read_only(data / top), _read_only(np.array(image.affine, dtype=np.float64))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def mni_coverage(volume: np.ndarray, affine: np.ndarray, mask: np.ndarray, mask_affine: np.ndarray,
                 *, n_voxels_total: int | None = None, excursion: np.ndarray | None = None) -> dict:
    """``brain_coverage`` and ``perc_voxels_outside``, on the smaller of the two grids.

    NeuroVault resamples the image onto the mask when the image (all its
    volumes) has more voxels than the mask, and the mask onto the image
    otherwise; nearest neighbour either way, zero outside the field of view.
    ``excursion`` (the map's non-zero, non-NaN voxels) is computed when not given.
    """
    if excursion is None:
        excursion = (volume != 0) & ~np.isnan(volume)
    if (n_voxels_total or volume.size) > mask.size:
        excursion = resample_nearest(excursion, affine, mask.shape, mask_affine)
        n_mask = int(np.count_nonzero(mask))
    else:
        mask, n_mask = _mask_on_grid(mask, mask_affine, volume.shape[:3], affine,
                                     fortran=excursion.flags.f_contiguous and not excursion.flags.c_contiguous)
    n_map = int(np.count_nonzero(excursion))
    inside = int(np.count_nonzero(excursion & mask))
    coverage = inside / n_mask * 100.0 if n_mask else 0.0
    outside = (n_map - inside) / n_map * 100.0 if n_map else None
    return {"brain_coverage": coverage, "perc_voxels_outside": outside}


_GRID_CACHE: dict = {}
_GRID_CACHE_SIZE = 8


def _mask_on_grid(mask, mask_affine, shape, affine, *, fortran: bool) -> tuple[np.ndarray, int]:
    """The mask resampled onto an image's grid, and its voxel count; cached, since most uploads share a few grids.

    Laid out in the excursion's memory order, so combining the two is a
    sequential pass.
    """
    key = (id(mask), mask_affine.tobytes(), tuple(shape), np.asarray(affine, np.float64).tobytes(), fortran)
    if key not in _GRID_CACHE:
        if len(_GRID_CACHE) >= _GRID_CACHE_SIZE:
            _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
        on_grid = resample_nearest(mask, mask_affine, shape, affine)
        on_grid = np.asfortranarray(on_grid) if fortran else np.ascontiguousarray(on_grid)
        on_grid.setflags(write=False)
        _GRID_CACHE[key] = (on_grid, int(np.count_nonzero(on_grid)), mask)
    on_grid, n_mask, _keep_alive = _GRID_CACHE[key]
    return on_grid, n_mask
