"""Resampling between voxel grids: whole volumes (linear, nearest) and single planes for the slices.

Apart from MNI space itself (``workers.mni``): the statistics, the renderer, similarity and comparisons
resample onto the MNI grids, and the slices read one plane of a map or of the anatomy at a time.
Axis-aligned grids, the common case, take separable paths; oblique ones the general one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def resample_linear(source: np.ndarray, source_affine: np.ndarray, target_shape, target_affine: np.ndarray,
                    *, outside: float = np.nan) -> np.ndarray:
    """``source`` interpolated (trilinear) at the centres of the target grid's voxels, float32.

    Voxels whose centre falls outside the source's field of view get
    ``outside`` (NaN: missing). A NaN in the source spreads to the target
    voxels that interpolate from it, so missing data stays missing.
    """
    from scipy.ndimage import map_coordinates

    target_shape = tuple(int(s) for s in target_shape[:3])
    source = np.asarray(source).reshape(source.shape[:3])
    mapping = np.linalg.inv(source_affine) @ target_affine
    grid = np.indices(target_shape, dtype=np.float32).reshape(3, -1)
    coords = mapping[:3, :3].astype(np.float32) @ grid + mapping[:3, 3:4].astype(np.float32)
    values = map_coordinates(source.astype(np.float32, copy=False), coords, order=1, mode="constant",
                             cval=np.nan, prefilter=False)
    inside = np.all((coords > -0.5) & (coords < np.array(source.shape, np.float32)[:, None] - 0.5), axis=0)
    values = np.where(inside, _edge_filled(source, coords, values), outside)
    return values.reshape(target_shape).astype(np.float32, copy=False)


def _edge_filled(source: np.ndarray, coords: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Centres within half a voxel of the border take the nearest voxel, as the border voxel covers them."""
    from scipy.ndimage import map_coordinates

    edge = np.isnan(values)
    if not edge.any():
        return values
    clipped = np.clip(coords[:, edge], 0, np.array(source.shape, np.float32)[:, None] - 1)
    values = values.copy()
    values[edge] = map_coordinates(source.astype(np.float32, copy=False), clipped, order=1, mode="nearest",
                                   prefilter=False)
    return values


def resample_nearest(source: np.ndarray, source_affine: np.ndarray, target_shape, target_affine: np.ndarray
                     ) -> np.ndarray:
    """``source`` sampled at the centres of the target grid's voxels (False/0 outside).

    Axis-aligned grids (the common case) are resampled one axis at a time,
    which costs almost nothing; oblique ones take the general path.
    """
    target_shape = tuple(int(s) for s in target_shape[:3])
    source = source.reshape(source.shape[:3])
    mapping = np.linalg.inv(source_affine) @ target_affine
    axes = _axis_permutation(mapping[:3, :3])
    if axes is not None:
        return _resample_separable(source, mapping, axes, target_shape)
    return _resample_general(source, mapping, target_shape)


def _axis_permutation(linear: np.ndarray) -> list[int] | None:
    """For each source axis, the one target axis it depends on; None when the grids are oblique."""
    axes = [int(np.argmax(np.abs(row))) for row in linear]
    if sorted(axes) != [0, 1, 2]:
        return None
    off_axis = linear.copy()
    off_axis[range(3), axes] = 0
    scale = np.abs(linear).max()
    return axes if np.all(np.abs(off_axis) <= 1e-6 * scale) else None


def _resample_separable(source, mapping, axes, target_shape) -> np.ndarray:
    """Per source axis, the contiguous run of target positions inside the source, then one gather.

    Indices along an axis are monotonic, so the inside positions are a run;
    a run with step +1 or -1 (same voxel size) is a slice, a view, not a copy.
    """
    out = np.zeros(target_shape, dtype=source.dtype)
    picked, runs = source, [slice(0, 0)] * 3
    for a in range(3):
        t = np.arange(target_shape[axes[a]])
        i = np.floor(mapping[a, axes[a]] * t + mapping[a, 3] + 0.5).astype(np.int64)
        inside = np.flatnonzero((i >= 0) & (i < source.shape[a]))
        if inside.size == 0:
            return out
        runs[axes[a]] = slice(int(inside[0]), int(inside[-1]) + 1)
        picked = _take(picked, i[inside], a)
    out[tuple(runs)] = np.transpose(picked, np.argsort(axes))
    return out


def _take(array: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """``np.take`` along ``axis``, as a strided view when the indices are evenly spaced (same or whole multiple
    voxel sizes: a 1 mm map on the 2 mm mask's grid takes every other voxel), since ``np.take`` copies."""
    step = int(index[1] - index[0]) if index.size > 1 else 1
    if step != 0 and np.all(np.diff(index) == step):
        stop = int(index[-1]) + step
        where = slice(int(index[0]), None if stop < 0 else stop, step)
        return array[(slice(None),) * axis + (where,)]
    return np.take(array, index, axis=axis)


def _resample_general(source, mapping, target_shape) -> np.ndarray:
    out = np.zeros(target_shape, dtype=source.dtype)
    jk = np.indices(target_shape[1:]).reshape(2, -1).astype(np.float64)
    for i in range(target_shape[0]):
        coords = mapping[:3, 0:1] * i + mapping[:3, 1:3] @ jk + mapping[:3, 3:4]
        index = np.floor(coords + 0.5).astype(np.int64)
        ok = np.all((index >= 0) & (index < np.array(source.shape)[:, None]), axis=0)
        plane = np.zeros(jk.shape[1], dtype=source.dtype)
        plane[ok] = source[index[0, ok], index[1, ok], index[2, ok]]
        out[i] = plane.reshape(target_shape[1:])
    return out




def sample_plane(source: np.ndarray, source_affine: np.ndarray, axis: int, position: float,
                 h: tuple[float, float, int], v: tuple[float, float, int], *, nearest: bool = False) -> np.ndarray:
    """``source`` sampled on a plane of world space (mm): world ``axis`` fixed at ``position``.

    ``h`` and ``v`` are (first centre, step, count) along the two other world
    axes in increasing order (x before y before z); the result has shape
    (count_h, count_v). Trilinear (``nearest`` for labels), NaN outside the
    field of view, as ``resample_linear``. A picture needs a plane, not a
    volume: when the grids are axis-aligned (almost every upload) it is two
    slices blended, then one gather per picture axis, tens of times cheaper
    than interpolating the points one by one; oblique grids take
    ``resample_linear`` on the plane.
    """
    return sample_plane_near(source, source_affine, axis, position, h, v, nearest=nearest)[0]


def sample_plane_near(source: np.ndarray, source_affine: np.ndarray, axis: int, position: float,
                      h: tuple[float, float, int], v: tuple[float, float, int], *, nearest: bool = False,
                      wanted=None) -> tuple[np.ndarray | None, slice, slice]:
    """``sample_plane`` on only the pixels that can interpolate from a voxel ``wanted`` marks: (values, the
    pixels' range along h, along v); values None when no pixel can.

    ``wanted`` (None: every voxel) maps the plane's voxels (the source blended along ``axis``) to a boolean
    array; a map's suprathreshold blobs are a small part of a slice, and a pixel interpolated only from
    voxels that are not shown cannot be shown (a weighted mean of values below a threshold stays below).
    Oblique grids are sampled whole.
    """
    source = np.asarray(source).reshape(source.shape[:3])
    whole = slice(0, int(h[2])), slice(0, int(v[2]))
    h_axis, v_axis = (a for a in range(3) if a != axis)
    affine_bytes = np.asarray(source_affine, np.float64).tobytes()
    to_voxels, axes = _voxel_axes(affine_bytes)
    if axes is None:
        return _plane_by_resampling(source, source_affine, axis, position, h, v, nearest), *whole
    voxel_axis = {axes[a]: a for a in range(3)}
    fixed = voxel_axis[axis]
    coordinate = to_voxels[fixed, axis] * position + to_voxels[fixed, 3]
    slab = _blend_along(source.astype(np.float32, copy=False), fixed,
                        np.array([coordinate], np.float64), nearest)
    slab = np.moveaxis(slab, fixed, 0)[0]
    remaining = [a for a in range(3) if a != fixed]
    if axes[remaining[0]] != h_axis:
        slab, remaining = slab.T, remaining[::-1]
    reads = [_pixel_reads(affine_bytes, remaining[n], world, tuple(grid), slab.shape[n], nearest)
             for n, (world, grid) in enumerate(((h_axis, h), (v_axis, v)))]
    window = whole
    if wanted is not None:
        marked = wanted(slab)
        if not marked.any():
            return None, *whole
        window = tuple(reads[n].pixels_reading(marked.any(axis=1 - n)) for n in range(2))
        if window[0] is None or window[1] is None:
            return None, *whole
        reads = [reads[n].within(window[n]) for n in range(2)]
    for n in range(2):
        slab = reads[n].blend(slab, n)
    return slab, *window


@lru_cache(maxsize=64)
def _voxel_axes(affine_bytes: bytes) -> tuple[np.ndarray, list[int] | None]:
    """World to voxel affine, and for each voxel axis the world axis it follows (None when oblique); kept per
    grid, as every panel of every picture asks."""
    to_voxels = np.linalg.inv(np.frombuffer(affine_bytes).reshape(4, 4))
    to_voxels.setflags(write=False)
    return to_voxels, _axis_permutation(to_voxels[:3, :3])


@lru_cache(maxsize=256)
def _voxel_coordinates(affine_bytes: bytes, voxel_axis: int, world_axis: int, grid: tuple) -> np.ndarray:
    """Continuous voxel indices along ``voxel_axis`` of a picture axis's pixel centres (``grid``: start, step,
    count in mm along ``world_axis``); kept, as the pictures of maps on one grid share their pixel grids."""
    to_voxels = _voxel_axes(affine_bytes)[0]
    start, step, count = grid
    centres = start + step * np.arange(int(count), dtype=np.float64)
    coordinates = to_voxels[voxel_axis, world_axis] * centres + to_voxels[voxel_axis, 3]
    coordinates.setflags(write=False)
    return coordinates


@lru_cache(maxsize=256)
def _pixel_reads(affine_bytes: bytes, voxel_axis: int, world_axis: int, grid: tuple, n: int, nearest: bool
                 ) -> _Reads:
    """Which voxels a picture axis's pixels read along ``voxel_axis`` (``n`` voxels long), with which weights;
    kept with the pixel grid's coordinates, as every map on one grid draws the same panels."""
    reads = _Reads.at(_voxel_coordinates(affine_bytes, voxel_axis, world_axis, grid), n, nearest)
    for array in (reads.lower, reads.upper, reads.weight, reads.outside, reads.following):
        if array is not None:
            array.setflags(write=False)
    return reads


@dataclass(frozen=True)
class _Reads:
    """Interpolation along one axis at continuous indices: the voxel below (``lower``) and the one above
    (``upper``, the same voxel when its weight is 0) each index reads, the upper one's ``weight`` (None for
    nearest-neighbour), ``outside`` (beyond half a voxel past either end: NaN), and ``following``, the voxel after
    ``lower`` (within the axis), which a window of pixels counts as read."""

    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray | None
    outside: np.ndarray
    following: np.ndarray
    any_outside: bool

    @classmethod
    def at(cls, coordinates: np.ndarray, n: int, nearest: bool) -> _Reads:
        outside = (coordinates <= -0.5) | (coordinates >= n - 0.5)
        clipped = np.clip(coordinates, 0, n - 1)
        if nearest:
            lower = np.floor(clipped + 0.5).astype(np.int64)
            return cls(lower, lower, None, outside, lower, bool(outside.any()))
        lower = np.minimum(np.floor(clipped).astype(np.int64), n - 1)
        weight = (clipped - lower).astype(np.float32)
        upper = np.where(weight > 0, np.minimum(lower + 1, n - 1), lower)
        return cls(lower, upper, weight, outside, np.minimum(lower + 1, n - 1), bool(outside.any()))

    def within(self, pixels: slice) -> _Reads:
        """The reads of a run of the pixels."""
        outside = self.outside[pixels]
        return _Reads(self.lower[pixels], self.upper[pixels], None if self.weight is None else self.weight[pixels],
                      outside, self.following[pixels], self.any_outside and bool(outside.any()))

    def pixels_reading(self, marked: np.ndarray) -> slice | None:
        """The run of pixels whose interpolation reads a voxel ``marked`` (a boolean per voxel of the axis)."""
        reads = marked[self.lower] if self.weight is None else marked[self.lower] | marked[self.following]
        found = np.flatnonzero(reads)
        return slice(int(found[0]), int(found[-1]) + 1) if found.size else None

    def blend(self, array: np.ndarray, axis: int) -> np.ndarray:
        """``array`` interpolated at these indices along ``axis``."""
        if self.weight is None:
            out = _gather(array, self.lower, axis).astype(np.float32)
        else:
            shape = [1] * array.ndim
            shape[axis] = -1
            weight = self.weight.reshape(shape)
            out = _gather(array, self.lower, axis) * (1 - weight) + _gather(array, self.upper, axis) * weight
        if self.any_outside:
            index = [slice(None)] * array.ndim
            index[axis] = self.outside
            out[tuple(index)] = np.nan
        return out


def _blend_along(array: np.ndarray, axis: int, coordinates: np.ndarray, nearest: bool) -> np.ndarray:
    """``array`` interpolated at continuous indices along one axis; NaN beyond half a voxel past either end."""
    return _Reads.at(coordinates, array.shape[axis], nearest).blend(array, axis)


def _gather(array: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """``array`` at ``index`` along ``axis`` by indexing: ``np.take`` copies a Fortran-ordered volume whole first."""
    where = (slice(None),) * axis
    if index.size == 1:
        return array[where + (slice(int(index[0]), int(index[0]) + 1),)]
    return array[where + (index,)]


def _plane_by_resampling(source, source_affine, axis, position, h, v, nearest) -> np.ndarray:
    h_axis, v_axis = (a for a in range(3) if a != axis)
    target = np.eye(4)
    target[:, :] = 0
    target[h_axis, 0], target[v_axis, 1], target[axis, 2], target[3, 3] = h[1], v[1], 1.0, 1.0
    target[h_axis, 3], target[v_axis, 3], target[axis, 3] = h[0], v[0], position
    shape = (int(h[2]), int(v[2]), 1)
    if nearest:
        inside = resample_nearest(np.ones(source.shape, bool), source_affine, shape, target)
        values = resample_nearest(source, source_affine, shape, target).astype(np.float32)
        return np.where(inside, values, np.nan)[:, :, 0]
    return resample_linear(source, source_affine, shape, target)[:, :, 0]
