"""The thresholded glass brain: suprathreshold projections in three views over the MNI outline (nilearn's look)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from workers.canvas import bar_space, colour_bar, eroded, fitted_per_mm, mark_sides, picture_metadata, png_bytes
from workers.mni import mni_brain_mask
from workers.palette import (
    DARK_TEXT,
    DENSITY,
    GAP,
    GLASS_WIDTH,
    LABELS,
    N_LABEL_COLOURS,
    OUTLINE,
    ROI,
    WHITE,
    colour_index,
)
from workers.scene import Scene, shown_mask


def glass_brain(s: Scene) -> bytes:
    """Projections of the suprathreshold voxels in three views, over the MNI outline (MNI maps), on white.

    For signed maps each ray keeps the value of largest |value|, so both tails
    show; below-threshold voxels never tint the brain.
    """
    projections = _projections(s, s.signed or s.style == "labels")
    shape = s.volume.shape
    zooms = np.linalg.norm(s.affine[:3, :3], axis=0)
    extent = np.array(shape) * zooms
    views = ((1, 2), (0, 2), (0, 1))
    width = (GLASS_WIDTH - bar_space(s)) * DENSITY - 2 * GAP * DENSITY
    per_mm = fitted_per_mm(width, extent[1] + extent[0] + extent[0], max(extent[1], extent[2]))
    panels = []
    for axis, (h, v) in enumerate(views):
        size = (max(1, round(extent[h] * per_mm)), max(1, round(extent[v] * per_mm)))
        projected = projections[axis]
        pixels = np.full(projected.shape, WHITE, np.uint8)
        drawn = projected != 0
        if s.style == "map":
            pixels[drawn] = colour_index(projected[drawn], s.vmax, s.signed)
        elif s.style == "roi":
            pixels[drawn] = ROI
        else:
            pixels[drawn] = LABELS + (np.abs(projected[drawn]).astype(np.int64) % N_LABEL_COLOURS)
        picture = np.asarray(Image.fromarray(np.ascontiguousarray(pixels.T[::-1]), "P").resize(
            size, Image.Resampling.NEAREST)).copy()
        if s.mni:
            outline = _outline(size, s.ras_affine.tobytes(), shape, (h, v), axis)
            picture[outline & (picture == WHITE)] = OUTLINE
        panels.append((axis, picture))
    return _compose_glass(s, panels)


def _projections(s: Scene, signed: bool) -> list[np.ndarray]:
    """The three projections of what the glass brain shows (0: nothing along that ray).

    For a map, only the box holding its shown voxels is reduced (``Scene.shown_planes``): a few
    blobs are a small part of the volume, and the rest projects to 0 anyway.
    """
    volume, box = s.volume, _shown_box(s)
    if box is not None:
        volume = volume[box]
    if s.style == "map":
        volume = np.where(shown_mask(volume, s.threshold), volume, 0)  # NaN is never shown
    elif s.style == "roi":
        volume = ((volume != 0) & ~np.isnan(volume)).astype(np.float32)
    else:
        volume = np.where(np.isnan(volume), 0, volume)
    projections = []
    for axis in range(3):
        if box is None:
            whole = _projection(volume, axis, signed)
        else:
            whole = np.zeros([n for a, n in enumerate(s.volume.shape) if a != axis], volume.dtype)
            if volume.size:
                whole[tuple(b for a, b in enumerate(box) if a != axis)] = _projection(volume, axis, signed)
        projections.append(s.in_ras(whole, tuple(a for a in range(3) if a != axis)))
    return projections


def _shown_box(s: Scene) -> tuple[slice, slice, slice] | None:
    """The voxel box holding every shown voxel of a map on an axis-aligned grid, else None."""
    planes = s.shown_planes
    if planes is None:
        return None
    if not all(p.any() for p in planes):
        return (slice(0, 0),) * 3
    return tuple(slice(int(np.argmax(p)), len(p) - int(np.argmax(p[::-1]))) for p in planes)


def _projection(volume: np.ndarray, axis: int, signed: bool) -> np.ndarray:
    """The ray's value along ``axis``: its highest, or for signed maps its largest in magnitude.

    Along the axis the volume is stored along (its fastest), numpy reduces a short run per ray, several
    times slower than whole planes at once: that projection reads a copy in the other order.
    """
    if volume.ndim == 3 and volume.strides[axis] == volume.itemsize and volume.shape[axis] > 1:
        volume = np.copy(volume, order="F" if axis == volume.ndim - 1 else "C")
    highest = volume.max(axis=axis)
    if not signed:
        return highest
    lowest = volume.min(axis=axis)
    return np.where(highest >= -lowest, highest, lowest)


def _compose_glass(s: Scene, panels) -> bytes:
    gap = GAP * DENSITY
    bar = bar_space(s) * DENSITY
    height = max(p.shape[0] for _a, p in panels)
    canvas = np.full((height, sum(p.shape[1] for _a, p in panels) + gap * (len(panels) - 1) + bar), WHITE, np.uint8)
    x = 0
    for axis, pixels in panels:
        y = (height - pixels.shape[0]) // 2
        canvas[y:y + pixels.shape[0], x:x + pixels.shape[1]] = pixels
        if axis != 0:
            mark_sides(canvas, x, y, pixels.shape[1], DARK_TEXT)
        x += pixels.shape[1] + gap
    if bar:
        colour_bar(canvas, s, x, DARK_TEXT)
    return png_bytes(canvas, s.palette, picture_metadata(s))


@lru_cache(maxsize=64)
def _outline(size: tuple[int, int], affine_bytes: bytes, shape, axes: tuple[int, int], along: int) -> np.ndarray:
    """The MNI brain's outline on one glass-brain panel; most uploads share a few grids, so it is cached."""
    affine = np.frombuffer(affine_bytes).reshape(4, 4)
    mask, mask_affine = mni_brain_mask(2)
    silhouette = mask.any(axis=along)
    h, v = axes
    columns = affine[h, 3] + affine[h, h] * ((np.arange(size[0]) + 0.5) * (shape[h] / size[0]) - 0.5)
    rows = (affine[v, 3] + affine[v, v] * ((np.arange(size[1]) + 0.5) * (shape[v] / size[1]) - 0.5))[::-1]
    i = np.floor((columns - mask_affine[h, 3]) / mask_affine[h, h] + 0.5).astype(np.int64)
    j = np.floor((rows - mask_affine[v, 3]) / mask_affine[v, v] + 0.5).astype(np.int64)
    ok_i = (i >= 0) & (i < silhouette.shape[0])
    ok_j = (j >= 0) & (j < silhouette.shape[1])
    inside = silhouette[np.ix_(np.where(ok_i, i, 0), np.where(ok_j, j, 0))] & ok_i[:, None] & ok_j[None, :]
    thick = inside & ~eroded(eroded(inside))
    outline = thick.T
    outline.setflags(write=False)
    return outline
