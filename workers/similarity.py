"""Maps like this one: a map's representation on the MNI152 4 mm brain mask, and Pearson r between two.

The representation (what a worker stores per map):

* the map, or the first volume of a series, resampled (trilinear) onto the
  grid of nilearn's MNI152 4 mm brain mask (``workers.mni.mni_brain_mask(4)``,
  29,398 voxels) and read at the mask's voxels only;
* NaN where the map has no value: outside its field of view, and where less
  than half of the interpolation weight falls on voxels that hold a value.
  Following NeuroVault, a voxel holding exactly 0 (or NaN, or an infinity) in
  the uploaded file holds *no value*: zero is the background of a statistical
  map (outside the brain, below a threshold), not a measured zero. The values
  and their presence are interpolated separately (normalised interpolation),
  so a thresholded map's clusters keep their values up to their edges instead
  of being pulled towards zero;
* standardised over the voxels that hold a value (mean 0, standard deviation 1)
  and stored as float16 (about 57 KiB), with the number of voxels that counted.

Similarity is Pearson's r over the mask with *pairwise deletion*, NeuroVault's
rule (``pybraincompare``'s ``make_binary_deletion_mask``): a voxel counts only
when both maps hold a value there; r is computed from scratch over those
common voxels (each map re-centred and re-scaled on them), so it equals
``numpy.corrcoef`` over the same voxels. r is undefined, and the pair is left
out with a reason (never NaN), when fewer than ``MIN_COMMON_VOXELS`` voxels are
common or when either map is constant over them.

No representation is made (``no_vector_reason``) for maps not in MNI space,
ROI/masks ("R") and parcellations ("Pa"): r between label images or between
unaligned maps means nothing. A map constant over the mask gets none either.

Ranking is exact for the top results: a first pass scores every stored map
with a reduced representation (the standardised map, missing voxels as 0,
summed over 16 mm blocks: about 670 values whose dot product estimates the
full one, see ``block_sums``), keeps a pool of candidates several times larger than
the answer, and the candidates' r is then computed exactly and sorted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from workers.mni import mni_brain_mask

MASK_RESOLUTION_MM = 4
MIN_COMMON_VOXELS = 100
MIN_PRESENT_WEIGHT = 0.5
BLOCK = 4
NO_VECTOR_MAP_TYPES = {"R": "a region of interest or mask", "Pa": "a parcellation"}
UNDEFINED_REASONS = {
    "overlap": f"fewer than {MIN_COMMON_VOXELS} brain voxels hold a value in both maps",
    "constant": "one of the maps is constant over the voxels the two share",
}


@dataclass(frozen=True)
class Representation:
    """A map on the 4 mm mask: ``values`` (float16, NaN missing) or None with the ``reason`` why not."""

    values: np.ndarray | None
    n_voxels: int
    n_mask_voxels: int
    reason: str | None = None

    def summary(self) -> dict:
        """What the statistics record about it: which voxels counted, or why there is no vector."""
        return {"n_voxels": self.n_voxels, "n_mask_voxels": self.n_mask_voxels, "reason": self.reason}


def mask_grid() -> tuple[np.ndarray, np.ndarray]:
    """The 4 mm MNI152 brain mask (boolean) and its affine."""
    return mni_brain_mask(MASK_RESOLUTION_MM)


def n_mask_voxels() -> int:
    return int(np.count_nonzero(mask_grid()[0]))


def no_vector_reason(map_type: str | None, not_mni: bool) -> str | None:
    """Why a map gets no representation, in words for its page; None when it gets one."""
    if not_mni:
        return "The map does not appear to be in MNI space, so it is not compared with other maps."
    if map_type in NO_VECTOR_MAP_TYPES:
        return f"The map is {NO_VECTOR_MAP_TYPES[map_type]}; similarity by correlation is for statistical maps."
    return None


def on_mask(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The map's values at the 4 mm mask's voxels (float32, NaN where it holds no value).

    Values and their presence are interpolated from the same eight corners per mask voxel, read once.
    """
    volume = _first_volume(data)
    corners = mask_corners(volume.shape, _element_strides(volume), np.asarray(affine, np.float64).tobytes())
    raw = _flat(volume)[corners.index]
    present = np.isfinite(raw) & (raw != 0)
    raw[~present] = 0
    weight = (corners.weight * present).sum(axis=0)
    summed = (raw * corners.weight).sum(axis=0, dtype=np.float32)
    values = np.full(corners.inside.size, np.nan, np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        values[corners.at] = np.where(weight >= MIN_PRESENT_WEIGHT, summed / weight, np.nan)
    return values


@lru_cache(maxsize=1)
def mask_points_mm() -> np.ndarray:
    """The millimetre coordinates of the mask's voxel centres (3 x voxels)."""
    mask, mask_affine = mask_grid()
    ijk = np.argwhere(mask).T.astype(np.float64)
    points = mask_affine[:3, :3] @ ijk + mask_affine[:3, 3:4]
    points.setflags(write=False)
    return points


def sampled_at_mask(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``volume`` interpolated (trilinear) at the mask's voxel centres only, NaN outside its field of view.

    As ``workers.resample.resample_linear`` onto the mask's grid, read at the mask (a centre within half a
    voxel of the border takes the border's value), at a fraction of the cost: only the brain's voxels.
    """
    volume = _first_volume(volume)
    corners = mask_corners(volume.shape, _element_strides(volume), np.asarray(affine, np.float64).tobytes())
    values = np.full(corners.inside.size, np.nan, np.float32)
    values[corners.at] = (_flat(volume)[corners.index] * corners.weight).sum(axis=0, dtype=np.float32)
    return values


@dataclass(frozen=True)
class Corners:
    """Where a grid's trilinear interpolation at the mask's voxels reads: the mask voxels inside the grid's field
    of view (``inside``), and for each of them the eight voxels (flat indices in memory order) and their weights
    (8 x inside voxels, fewer when some corners weigh 0 everywhere), listed in the grid's memory order; ``at``
    says which mask voxel each of them is."""

    inside: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    at: np.ndarray


@lru_cache(maxsize=4)
def mask_corners(shape: tuple[int, ...], strides: tuple[int, ...], affine_bytes: bytes) -> Corners:
    """The mask's interpolation corners on one grid; kept, since most uploads share a few grids (MNI 2 mm ...).

    Coordinates are clipped to the grid first, which is what ``map_coordinates``' "nearest" mode does
    within half a voxel of the border. Corners of weight 0 for every mask voxel are left out: on the MNI 1 and
    2 mm grids every mask voxel's centre is a voxel's centre, so the other seven corners weigh nothing and the
    sums are the same without them. The corners are listed in the grid's memory order, so the gathers
    read the map forwards (in the mask's order a 2 mm map in Fortran order was read a plane apart at each step:
    a third slower).
    """
    inverse = np.linalg.inv(np.frombuffer(affine_bytes).reshape(4, 4))
    coords = inverse[:3, :3] @ mask_points_mm() + inverse[:3, 3:4]
    size = np.array(shape[:3], np.float64)[:, None]
    inside = np.all((coords > -0.5) & (coords < size - 0.5), axis=0)
    coords = np.clip(coords[:, inside], 0, size - 1)
    lower = np.minimum(np.floor(coords), np.maximum(size - 2, 0)).astype(np.intp)
    upper = np.minimum(lower + 1, size.astype(np.intp) - 1)
    fraction = coords - lower
    index = np.empty((8, lower.shape[1]), np.intp)
    weight = np.empty((8, lower.shape[1]), np.float32)
    for n, corner in enumerate(np.ndindex(2, 2, 2)):
        picked = [upper[a] if corner[a] else lower[a] for a in range(3)]
        index[n] = sum(picked[a] * strides[a] for a in range(3))
        weight[n] = np.prod([fraction[a] if corner[a] else 1 - fraction[a] for a in range(3)], axis=0)
    used = weight.any(axis=1)  # a grid aligned with the mask's (MNI 1 or 2 mm) reads one corner in eight
    used[0] = True
    index, weight = index[used], weight[used]
    order = np.argsort(index[0], kind="stable")
    index, weight = np.ascontiguousarray(index[:, order]), np.ascontiguousarray(weight[:, order])
    at = np.flatnonzero(inside)[order]
    for array in (inside, index, weight, at):
        array.setflags(write=False)
    return Corners(inside, index, weight, at)


def _first_volume(data: np.ndarray) -> np.ndarray:
    volume = np.asarray(data)
    if volume.ndim == 4:
        volume = volume[..., 0]
    volume = volume.reshape(volume.shape[:3])
    if not (volume.flags.c_contiguous or volume.flags.f_contiguous):
        volume = np.ascontiguousarray(volume)
    return volume


def _element_strides(volume: np.ndarray) -> tuple[int, ...]:
    return tuple(int(s) // volume.itemsize for s in volume.strides)


def _flat(volume: np.ndarray) -> np.ndarray:
    """The volume's voxels in memory order, without a copy (it is C- or Fortran-contiguous)."""
    return volume.ravel(order="K")


def represent(data: np.ndarray, affine: np.ndarray, *, map_type: str | None = None,
              not_mni: bool = False) -> Representation:
    """The stored representation of a map (see the module's docstring), or the reason it has none."""
    total = n_mask_voxels()
    reason = no_vector_reason(map_type, not_mni)
    if reason:
        return Representation(None, 0, total, reason)
    values = on_mask(data, affine)
    present = ~np.isnan(values)
    counted = int(np.count_nonzero(present))
    if counted < MIN_COMMON_VOXELS:
        return Representation(None, counted, total, f"Only {counted} voxels of the MNI brain mask hold a value; "
                                                    f"at least {MIN_COMMON_VOXELS} are needed to compare maps.")
    mean = float(values[present].mean(dtype=np.float64))
    std = float(values[present].std(dtype=np.float64))
    if not np.isfinite(std) or std <= 1e-12 * max(1.0, abs(mean)):
        return Representation(None, counted, total, "The map is constant over the brain mask, so its correlation "
                                                    "with any map is undefined.")
    standardised = np.where(present, (values - mean) / std, np.nan)
    return Representation(standardised.astype(np.float16), counted, total)


def vector_bytes(values: np.ndarray) -> bytes:
    """A representation as stored: a ``.npy`` file (self-describing: dtype and length)."""
    out = io.BytesIO()
    np.save(out, np.asarray(values, dtype=np.float16), allow_pickle=False)
    return out.getvalue()


def vector_from_bytes(data: bytes) -> np.ndarray:
    """A stored representation back; anything but a float16 vector of the mask's length is refused."""
    values = np.load(io.BytesIO(data), allow_pickle=False)
    if values.dtype != np.float16 or values.shape != (n_mask_voxels(),):
        raise ValueError(f"not a similarity vector: dtype {values.dtype}, shape {values.shape}")
    return values


@lru_cache(maxsize=1)
def block_sums():
    """The first pass's projection (mask voxels x blocks): each block of ``BLOCK`` x ``BLOCK`` x ``BLOCK``
    voxels of the 4 mm grid (16 mm cubes) summed and divided by the square root of its voxel count.

    That is the orthogonal projection onto maps constant within each block, so
    the dot product of two reduced maps is the dot product of their 16 mm
    smoothed versions: close to the full one for maps smooth at the scale of
    group statistics, and cheap (about 670 values per map).
    """
    from scipy.sparse import csr_matrix

    mask, _ = mask_grid()
    blocks = np.argwhere(mask) // BLOCK
    keys = np.ravel_multi_index(blocks.T, tuple(np.array(mask.shape) // BLOCK + 1))
    _, block_of_voxel, counts = np.unique(keys, return_inverse=True, return_counts=True)
    weights = (1.0 / np.sqrt(counts[block_of_voxel])).astype(np.float32)
    return csr_matrix((weights, (np.arange(block_of_voxel.size), block_of_voxel)),
                      shape=(block_of_voxel.size, counts.size))


def reduced_dimensions() -> int:
    return block_sums().shape[1]


def reduced(values: np.ndarray) -> np.ndarray:
    """The first pass's representation: missing voxels as 0 (the mean), block-summed; float32.

    Divided by the square root of the mask size, so that the dot product of
    two estimates r for smooth maps that cover the mask.
    """
    rows = np.atleast_2d(np.asarray(values, dtype=np.float32))
    filled = np.nan_to_num(rows, nan=0.0)
    out = np.asarray((block_sums().T @ filled.T).T, dtype=np.float32) / np.float32(np.sqrt(rows.shape[1]))
    return out if np.ndim(values) == 2 else out[0]


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """r between two representations over the voxels where both hold a value; None when undefined."""
    r, _ = pearson_many(np.asarray(a), np.atleast_2d(b))
    return None if np.isnan(r[0]) else float(r[0])


def pearson_many(query: np.ndarray, rows: np.ndarray, *, chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Exact r of ``query`` with each row, pairwise deletion; (r with NaN where undefined, common voxel counts).

    Six sums per pair over the common voxels, from three matrix products per
    chunk of rows, so memory stays at a few chunks of float32 whatever the pool.
    """
    q = np.asarray(query, dtype=np.float32)
    q_present = ~np.isnan(q)
    q0 = np.where(q_present, q, 0).astype(np.float32)
    by_presence = np.stack([q_present.astype(np.float32), q0, q0 * q0], axis=1)
    by_value = by_presence[:, :2]
    sums = np.empty((rows.shape[0], 6), np.float64)
    query_sums = by_presence.sum(axis=0)
    for start in range(0, rows.shape[0], chunk):
        x = np.asarray(rows[start:start + chunk], dtype=np.float32)
        missing = np.isnan(x)
        block = sums[start:start + chunk]
        if missing.any():
            np.copyto(x, 0, where=missing)
            block[:, 0:3] = (~missing).astype(np.float32) @ by_presence  # n, sum q, sum q^2
        else:
            block[:, 0:3] = query_sums
        block[:, 3:5] = x @ by_value  # sum x, sum x q
        if q_present.all():
            block[:, 5] = np.einsum("ij,ij->i", x, x)  # sum x^2
        else:
            block[:, 5] = (x * x) @ by_presence[:, 0]
    n, sq, sqq, sx, sxq, sxx = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        var_x = n * sxx - sx * sx
        var_q = n * sqq - sq * sq
        r = (n * sxq - sx * sq) / np.sqrt(var_x * var_q)
        tiny = 1e-9 * n * n
        defined = (n >= MIN_COMMON_VOXELS) & (var_x > tiny) & (var_q > tiny)
    return np.where(defined, np.clip(r, -1.0, 1.0), np.nan), n.astype(np.int64)


def undefined_reason(n_common: int) -> str:
    """Why r of a pair is undefined (given that it is)."""
    return UNDEFINED_REASONS["overlap"] if n_common < MIN_COMMON_VOXELS else UNDEFINED_REASONS["constant"]


def candidate_rows(query_reduced: np.ndarray, reduced_rows: np.ndarray, pool: int,
                   usable: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``pool`` rows the first pass scores highest (unordered); ``usable`` masks rows out."""
    scores = reduced_rows @ np.asarray(query_reduced, dtype=np.float32)
    if usable is not None:
        scores = np.where(usable, scores, -np.inf)
        pool = min(pool, int(np.count_nonzero(usable)))
    if pool >= scores.shape[0]:
        return np.flatnonzero(np.isfinite(scores))
    picked = np.argpartition(-scores, pool - 1)[:pool]
    return picked[np.isfinite(scores[picked])]


@dataclass(frozen=True)
class Ranked:
    """Rows ranked by exact r, highest first, and the rows whose r is undefined (with their common voxels)."""

    rows: np.ndarray
    r: np.ndarray
    undefined_rows: np.ndarray
    undefined_common: np.ndarray


def ranked_exactly(query: np.ndarray, rows: np.ndarray, full_rows: np.ndarray) -> Ranked:
    """The candidate rows sorted by their exact r with the query (ties by row index, so the order is stable)."""
    r, common = pearson_many(query, full_rows)
    defined = ~np.isnan(r)
    order = np.lexsort((rows[defined], -r[defined]))
    return Ranked(rows[defined][order], r[defined][order], rows[~defined], common[~defined])
