"""Numbers from an image: a summary, percentiles, a histogram, the peak, and NeuroVault's flags.

Which voxels count, so the numbers mean the same thing on every page:

* ``n_voxels``, ``n_finite``, ``n_nan``, ``n_inf`` count every voxel of the
  summarised volume; ``n_nonzero`` counts its values (finite, non-zero).
* ``min``, ``max``, ``mean``, ``std``, ``percentiles`` and ``histogram`` are
  over its *values*: finite, non-zero voxels. Zero is the background of a
  statistical map (outside the brain, or below a threshold) and would
  otherwise swamp every percentile; NaN and infinities are left out.
* The peak is the finite voxel of largest absolute value.
* For 4D images the summary, the peak and the flags are about the first
  volume (NeuroVault's ``not_in_mni`` looks at the first volume too), and
  ``volumes`` lists min/max/mean/std of each volume (values as above), up to
  ``MAX_VOLUMES_LISTED``. A series is summarised in one pass (``SeriesSummary``),
  which also gives the temporal mean, SD and tSNR maps.

NeuroVault's flags, following ``neurovault/apps/statmaps/utils.py``:

* ``is_thresholded``: the share of voxels that are zero or NaN is above 0.85;
  ``perc_bad_voxels`` is that share x 100.
* ``not_mni``: against the MNI152 2 mm brain mask shipped by nilearn, after
  nearest-neighbour resampling of the larger grid onto the smaller one (NaN
  counting as zero). ``brain_coverage`` is the % of mask voxels where the map
  is non-zero, ``perc_voxels_outside`` the % of the map's non-zero voxels
  outside the mask. not_mni when coverage is in (50, 90) with more than 20 %
  outside, when coverage is 0, or when coverage is at most 50 with more than
  50 % outside. (NeuroVault's code tests ``coverage < 90``, so a coverage of
  exactly 90 is not flagged.)
* ``inferred_map_type`` (for uploads whose type is "Other"): "R" (ROI/mask)
  for one unique non-zero value, "Pa" (parcellation) for at most 1200 integer
  labels each on more than one voxel, "Other" otherwise.

Everything returned is plain JSON: NaN and infinities become None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workers.mni import mni_brain_mask, mni_coverage
from workers.plain import first_volume, jsonable
from workers.planes import Extremes, first_in_ras_order, flat_view
from workers.ranks import Ranks, histogram_counts

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
HISTOGRAM_BINS = 50
MAX_VOLUMES_LISTED = 10_000
THRESHOLDED_SHARE = 0.85
MAX_PARCELLATION_LABELS = 1200


def compute(data: np.ndarray, affine: np.ndarray, *,
            brain_mask: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Every statistic of an image held in memory, as a JSON-ready dict.

    ``brain_mask`` is (boolean array, affine); by default the MNI152 2 mm
    brain mask.
    """
    data = np.asarray(data)
    volumes = volume_summaries(data) if data.ndim == 4 else None
    return first_volume_statistics(first_volume(data), affine, shape=data.shape, volumes=volumes,
                                   brain_mask=brain_mask)


def first_volume_statistics(volume: np.ndarray, affine: np.ndarray, *, shape, volumes: list[dict] | None = None,
                            brain_mask: tuple[np.ndarray, np.ndarray] | None = None,
                            classes: VoxelClasses | None = None, planes: Extremes | None = None) -> dict:
    """The statistics of an image from its first volume, its shape and its per-volume summaries.

    A series is read volume by volume, so this is all that is ever held of it
    (``SeriesSummary`` gathers ``volumes`` on the way).

    Each pass over the volume is made once and shared: the values' mask
    serves the counts, the values and the MNI coverage; the values' extremes
    serve the summary, the histogram's range and the peak's value. Percentiles
    and histogram counts are exact but found without sorting (``workers.ranks``). ``classes`` and
    ``planes``: the volume's ``classify`` and ``planes.plane_extremes``, when the caller made them already.
    """
    shape = [int(s) for s in shape]
    total = len(shape) == 4 and shape[3] or 1
    affine = np.asarray(affine, dtype=np.float64)
    if classes is None:
        classes = classify(volume, all_finite=planes is not None and planes.all_finite)
    values = classes.values
    extremes = value_extremes(values)
    described = summary(values, extremes)
    mask, mask_affine = brain_mask if brain_mask is not None else mni_brain_mask()
    coverage = mni_coverage(volume, affine, mask, mask_affine, n_voxels_total=math.prod(shape),
                            excursion=classes.mask if classes.n_inf == 0 else None)
    counts = voxel_counts(volume.size, classes.n_nan, classes.n_zero, values.size)
    thresholded, perc_bad = thresholded_share(volume.size, classes.n_nan + classes.n_zero)
    out = {
        "shape": shape,
        "n_volumes": total,
        **counts,
        **described,
        **distribution(values, extremes),
        "peak": peak(volume, affine, extremes, planes),
        "is_thresholded": thresholded,
        "perc_bad_voxels": perc_bad,
        **coverage,
        "not_mni": not_mni(coverage["brain_coverage"], coverage["perc_voxels_outside"]),
        "inferred_map_type": infer_map_type(values),
        "volumes": volumes if volumes is not None else [described],
        "volumes_truncated": total > MAX_VOLUMES_LISTED,
    }
    return jsonable(out)


@dataclass(frozen=True)
class VoxelClasses:
    """A volume's voxels sorted into values (finite, non-zero), NaN, infinities and zeros.

    ``mask`` marks the values, in the volume's shape; ``values`` are those
    voxels, flattened in the volume's memory order.
    """

    mask: np.ndarray
    values: np.ndarray
    n_nan: int
    n_inf: int

    @property
    def n_zero(self) -> int:
        return self.mask.size - self.values.size - self.n_nan - self.n_inf


def classify(volume: np.ndarray, all_finite: bool = False) -> VoxelClasses:
    """One mask pass and one gather, in the volume's own memory order (no transposed copy).

    When the volume's min and max are finite (two fast reductions) there is
    no NaN and no infinity, and the finiteness passes are skipped; ``all_finite``
    (the caller knows it already, ``planes.Extremes``) skips the reductions too.
    """
    flat, order = flat_view(volume)
    if flat.size == 0:
        return VoxelClasses(np.zeros(volume.shape, bool), flat[:0], 0, 0)
    if flat.dtype.kind != "f" or all_finite or (np.isfinite(flat.min()) and np.isfinite(flat.max())):
        nonzero = flat != 0
        return VoxelClasses(nonzero.reshape(volume.shape, order=order), flat[nonzero], 0, 0)
    finite = np.isfinite(flat)
    n_finite = int(np.count_nonzero(finite))
    n_nan = int(np.count_nonzero(np.isnan(flat)))
    finite &= flat != 0
    return VoxelClasses(finite.reshape(volume.shape, order=order), flat[finite], n_nan,
                        flat.size - n_finite - n_nan)


def n_volumes(data: np.ndarray) -> int:
    return int(data.shape[3]) if data.ndim == 4 else 1


def finite_nonzero(volume: np.ndarray) -> np.ndarray:
    """The map's values: finite and non-zero, flattened."""
    return classify(volume).values


def voxel_counts(n_voxels: int, n_nan: int, n_zero: int, n_values: int) -> dict:
    """Every voxel is NaN, zero, infinite or a value (finite, non-zero): two counts give the rest."""
    n_inf = n_voxels - n_nan - n_zero - n_values
    return {
        "n_voxels": n_voxels,
        "n_finite": n_voxels - n_nan - n_inf,
        "n_nonzero": n_values,
        "n_nan": n_nan,
        "n_inf": n_inf,
    }


def value_extremes(values: np.ndarray) -> tuple[float, float] | None:
    """The smallest and largest value (two fast reductions), None when there is none."""
    if values.size == 0:
        return None
    return values.min().item(), values.max().item()


def summary(values: np.ndarray, extremes: tuple[float, float] | None = None) -> dict:
    """min, max, mean and std of the values (``extremes``: their min and max when already known)."""
    if values.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None}
    low, high = extremes if extremes is not None else value_extremes(values)
    mean, std = mean_std(values, (low, high))
    return {"min": float(low), "max": float(high), "mean": mean, "std": std}


#: Values widened to float64 at once up to this many (128 MiB); past it, block by block, so a large volume's
#: statistics do not hold a float64 copy twice its float32 size.
WIDE_BLOCK = 16 * 1024 * 1024
EXACT_IN_FLOAT64 = 2**53  # integers below this add up exactly in float64, in any order


def mean_std(values: np.ndarray, extremes: tuple[float, float] | None = None) -> tuple[float, float]:
    """In float64, in place on one widened copy (numpy's ``std`` allocates more), block by block past WIDE_BLOCK.

    Integers (a series' volumes as stored, ``extremes`` their min and max) whose squares add up
    below 2**53 take the exact path instead: ``exact_mean_std``.

    No ``np.dot``: BLAS threads spinning on a busy machine made it 100 times slower.
    """
    if values.dtype.kind in "iu" and extremes is not None and values.size <= WIDE_BLOCK:
        largest = max(abs(int(extremes[0])), abs(int(extremes[1])))
        if largest * largest * values.size < EXACT_IN_FLOAT64:
            return exact_mean_std(values)
    if values.size <= WIDE_BLOCK:
        wide = values.astype(np.float64)
        mean = float(wide.mean())
        wide -= mean
        np.square(wide, out=wide)
        return mean, math.sqrt(float(wide.sum()) / wide.size)
    flat = values.reshape(-1)
    blocks = range(0, flat.size, WIDE_BLOCK)
    mean = math.fsum(float(flat[i:i + WIDE_BLOCK].sum(dtype=np.float64)) for i in blocks) / flat.size
    squares = []
    for i in blocks:
        wide = flat[i:i + WIDE_BLOCK].astype(np.float64)
        wide -= mean
        squares.append(float(np.square(wide, out=wide).sum()))
    return mean, math.sqrt(math.fsum(squares) / flat.size)


def exact_mean_std(values: np.ndarray) -> tuple[float, float]:
    """Integers' mean and SD from their sum and sum of squares, each exact in float64 (the caller checks that
    the squares add up below 2**53): two passes over one widened copy instead of four.

    The mean is the float the two-pass way gives (the same exact sum over the same count); the SD is the
    square root of the exact variance, ``(n * squares - sum**2) / n**2`` in Python's integers, rounded once
    (the two-pass way rounds each deviation: they may differ in the last bits).
    """
    wide = values.astype(np.float64)
    total = wide.sum()
    squares = int(np.einsum("i,i->", wide, wide))  # numpy's own loop: no BLAS thread
    n, whole = wide.size, int(total)
    return float(total / n), math.sqrt((n * squares - whole * whole) / (n * n))


def distribution(values: np.ndarray, extremes: tuple[float, float] | None, bins: int = HISTOGRAM_BINS) -> dict:
    """"percentiles" (keys "1" ... "99", numpy's default linear interpolation) and "histogram" (``edges``: bins + 1,
    equal width from min to max; ``counts``: the same bins as ``np.histogram``, last bin closed, a value compared
    with the edges in its own dtype); exact, from one ``Ranks`` look-up."""
    if extremes is None:
        return {"percentiles": {str(q): None for q in PERCENTILES}, "histogram": {"edges": [], "counts": []}}
    position = np.array(PERCENTILES, dtype=np.float64) / 100 * (values.size - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, values.size - 1)
    low, high = (float(e) for e in extremes)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    found, below = Ranks(values, *extremes).look_up(np.concatenate([lower, upper]), edges[1:-1].astype(values.dtype))
    found = found.astype(np.float64)
    at = found[:lower.size] + (found[lower.size:] - found[:lower.size]) * (position - lower)
    return {"percentiles": {str(q): float(v) for q, v in zip(PERCENTILES, at, strict=True)},
            "histogram": {"edges": edges.tolist(), "counts": histogram_counts(below, values.size).tolist()}}


def peak(volume: np.ndarray, affine: np.ndarray, extremes: tuple[float, float] | None = None,
         planes: Extremes | None = None) -> dict | None:
    """The finite voxel of largest absolute value: its value, voxel index and mm coordinates.

    With the values' extremes at hand the peak value is one of them, and
    only its position needs a pass over the volume (over one plane of it with the ``planes``' extremes).
    """
    if extremes is None:
        extremes = value_extremes(finite_nonzero(volume))
    if extremes is None:
        return None
    low, high = extremes
    value = volume.dtype.type(high if abs(high) >= abs(low) else low)
    ijk = first_position(volume, value, planes[0] if planes else None)
    mm = affine[:3, :3] @ np.array(ijk[:3], dtype=np.float64) + affine[:3, 3]
    return {"value": float(value), "voxel": ijk, "mm": [float(c) for c in mm]}


def first_position(volume: np.ndarray, value, first_axis_extremes=None) -> list[int]:
    """Index of the first voxel (in C order) equal to ``value``, found without a transposed copy."""
    return first_in_ras_order(volume, value, (False, False, False), first_axis_extremes)


def is_thresholded(volume: np.ndarray) -> tuple[bool, float]:
    """NeuroVault's rule: (share of zero-or-NaN voxels > 0.85, that share x 100)."""
    bad = int(np.count_nonzero(volume == 0)) + int(np.count_nonzero(np.isnan(volume)))
    return thresholded_share(volume.size, bad)


def thresholded_share(n_voxels: int, n_bad: int) -> tuple[bool, float]:
    if n_voxels == 0:
        return True, 100.0
    share = n_bad / n_voxels
    return share > THRESHOLDED_SHARE, share * 100.0


def not_mni(brain_coverage: float, perc_voxels_outside: float | None) -> bool:
    """NeuroVault's rule on coverage and outside share (both in %)."""
    outside = math.nan if perc_voxels_outside is None else perc_voxels_outside
    if brain_coverage > 50:
        return brain_coverage < 90 and outside > 20
    if brain_coverage == 0:
        return True
    return outside > 50


def infer_map_type(values: np.ndarray) -> str:
    """NeuroVault's guess for maps uploaded as "Other": "R", "Pa" or "Other".

    A statistical map fails the integer test on its first values, so a
    sample is tried before the whole array.
    """
    if values.size == 0:
        return "Other"
    if not (all_integers(values[::max(1, values.size // 1000)]) and all_integers(values)):
        return "R" if values.min() == values.max() else "Other"
    labels, counts = np.unique(values, return_counts=True)
    if labels.size == 1:
        return "R"
    if labels.size > MAX_PARCELLATION_LABELS or np.any(counts == 1):
        return "Other"
    return "Pa"


def all_integers(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def volume_summaries(data: np.ndarray) -> list[dict]:
    volumes = data.reshape(data.shape[:3] + (-1,)) if data.ndim == 4 else data[..., None]
    return [summary(finite_nonzero(volumes[..., t])) for t in range(min(volumes.shape[3], MAX_VOLUMES_LISTED))]
