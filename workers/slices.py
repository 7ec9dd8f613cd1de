"""Slices over anatomy and the thresholded glass brain, drawn with numpy and Pillow (no matplotlib).

The look researchers know is nilearn's ``plot_stat_map`` and ``plot_glass_brain``;
these pictures follow it, about thirty times faster:

* MNI maps are drawn over the 1 mm MNI152 template, maps that are not in MNI
  space over their own first volume in grey (the MNI template would put them
  where they do not belong); pictures are computed at their pixel grid, each
  pixel's anatomy and map value interpolated (trilinear) at its centre, so
  nothing is blocky at the map's voxel size;
* a map shows only its suprathreshold voxels (``workers.thresholds``: the
  threshold is a parameter, stated in the picture's metadata); signed maps use
  a diverging scale centred on zero (cold below, hot above), other maps the
  hot half; the colour bar gives the range and the threshold's gap in grey;
* ROI masks are drawn as outlines, parcellations as label colours, anatomical
  images as the anatomy itself;
* neurological convention, as in ``workers.render``: left on the left ("L"
  and "R" marks), slice coordinates in mm under each panel;
* pictures are drawn at ``DENSITY`` times the CSS size they are shown at
  (retina screens), as palette PNGs, which keeps them small.

Every public function is pure: arrays and parameters in, PNG bytes out.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from workers.canvas import bar_range, bar_space, compose, eroded, fitted_per_mm
from workers.glass import glass_brain
from workers.mni import mni_template
from workers.palette import (
    AXIS_NAMES,
    BAR_SPACE,
    BAR_WIDTH,
    COLOUR_MAPS,
    COLOURS,
    DENSITY,
    FONT_SIZE,
    GAP,
    GAP_GREY,
    GREYS,
    LABELS,
    MAX_CUTS,
    MOSAIC_COLUMNS,
    MOSAIC_CUTS,
    MOSAIC_WIDTH,
    N_LABEL_COLOURS,
    ORTHO_WIDTH,
    OUTLINE,
    OVERLAY,
    ROI,
    SLICE_WIDTH,
    TEMPLATE_PLANES_KEPT,
    TEXT,
    colour_index,
)
from workers.plain import first_volume
from workers.resample import sample_plane, sample_plane_near
from workers.scene import Scene, scene, shown_mask, shown_type, threshold_for
from workers.thresholds import Threshold

# what callers and tests read from here (the drawing is split across workers.palette, scene, canvas, glass)
__all__ = [
    "BAR_SPACE", "BAR_WIDTH", "COLOUR_MAPS", "COLOURS", "DENSITY", "FONT_SIZE", "GAP", "GAP_GREY", "GREYS", "LABELS",
    "MAX_CUTS", "MOSAIC_WIDTH", "OUTLINE", "OVERLAY", "ROI", "TEXT", "Scene", "axial_mosaic", "bar_range",
    "colour_index", "glass_brain", "mosaic", "mosaic_cuts", "on_demand", "ortho", "panel", "pictures", "png_size",
    "scene", "shown_type", "single_slice", "threshold_for",
]


def panel(s: Scene, axis: int, position: float, pixels_per_mm: float, *, skip_empty_cuts: bool = True) -> np.ndarray:
    """Palette indices (rows top to bottom) of the plane through ``position`` mm along world ``axis``.

    ``skip_empty_cuts``: look up first whether the plane can show the map at all (worth it for the
    many panels of a mosaic; a single slice just samples the map). The map is interpolated only
    where its shown voxels are (``resample.sample_plane_near``), onto a copy of the anatomy's picture.
    """
    h_axis, v_axis = (a for a in range(3) if a != axis)
    h, v = _pixel_grid(s.bounds, h_axis, pixels_per_mm), _pixel_grid(s.bounds, v_axis, pixels_per_mm)
    if s.mni:
        picture = _template_picture(axis, position, h, v).copy()
    else:
        picture = _pictured(_grey_index(sample_plane(s.anatomy, s.anatomy_affine, axis, position, h, v),
                                        *s.anatomy_range))
    on_plane = picture[::-1].T  # a view of the picture indexed [h, v], as planes are sampled
    if s.style == "map" and (not skip_empty_cuts or s.may_show(axis, position)):
        values, h_run, v_run = sample_plane_near(s.volume, s.affine, axis, position, h, v,
                                                 wanted=lambda plane: shown_mask(plane, s.threshold))
        if values is not None:
            shown = shown_mask(values, s.threshold)
            on_plane[h_run, v_run][shown] = colour_index(values[shown], s.vmax, s.signed)
    elif s.style == "roi":
        inside = np.nan_to_num(sample_plane(s.volume, s.affine, axis, position, h, v, nearest=True)) != 0
        on_plane[inside & ~eroded(eroded(inside))] = ROI  # two pixels wide: visible at 2x
    elif s.style == "labels":
        labels = np.nan_to_num(sample_plane(s.volume, s.affine, axis, position, h, v, nearest=True))
        labelled = labels != 0
        on_plane[labelled] = LABELS + (np.abs(labels[labelled]).astype(np.int64) % N_LABEL_COLOURS)
    return picture


def _pictured(plane: np.ndarray) -> np.ndarray:
    """A plane indexed [h, v] as a picture: rows top to bottom (v decreasing), columns h increasing."""
    return np.ascontiguousarray(plane.T[::-1])


@lru_cache(maxsize=TEMPLATE_PLANES_KEPT)
def _template_picture(axis: int, position: float, h: tuple, v: tuple) -> np.ndarray:
    """The MNI template's grey levels on one plane, as a picture, kept: cuts repeat across maps (same grids,
    same extents)."""
    template, affine = mni_template()
    picture = _pictured(_grey_index(sample_plane(template, affine, axis, position, h, v), 0.0, 1.0))
    picture.setflags(write=False)
    return picture


def _pixel_grid(bounds: np.ndarray, axis: int, pixels_per_mm: float) -> tuple[float, float, int]:
    """(first pixel centre in mm, mm per pixel, pixel count) across the box along one world axis."""
    low, high = float(bounds[0, axis]), float(bounds[1, axis])
    count = max(1, int(round((high - low) * pixels_per_mm)))
    step = (high - low) / count if high > low else 1.0
    return low + step / 2, step, count


def _grey_index(grey: np.ndarray, low: float, high: float) -> np.ndarray:
    """Grey levels; zero and missing (NaN) are black, the background of scanners' images."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (grey - low) * ((GREYS - 1) / (high - low))
    index = np.clip(np.nan_to_num(scaled), 0, GREYS - 1).astype(np.uint8)
    index[grey == 0] = 0
    return index


def ortho(s: Scene, cut_mm=None) -> bytes:
    """Sagittal, coronal and axial slices through ``cut_mm`` (default: the peak), with the colour bar."""
    cut = s.peak_mm if cut_mm is None else np.asarray(cut_mm, np.float64)
    extent = s.bounds[1] - s.bounds[0]
    width = (ORTHO_WIDTH - bar_space(s)) * DENSITY - 2 * GAP * DENSITY
    per_mm = fitted_per_mm(width, extent[1] + extent[0] + extent[0], max(extent[1], extent[2]))
    panels = [(axis, float(cut[axis]), panel(s, axis, float(cut[axis]), per_mm)) for axis in range(3)]
    return compose(s, [panels], label_margin=True)


def axial_mosaic(s: Scene, cut_mm=None) -> bytes:
    """Axial slices evenly spread across the map's extent (or at ``cut_mm``), in rows, with the colour bar."""
    return mosaic(s, 2, mosaic_cuts(s) if cut_mm is None else cut_mm)


def mosaic(s: Scene, axis: int, cuts) -> bytes:
    """Slices along world ``axis`` at each of ``cuts`` (mm), MOSAIC_COLUMNS to a row."""
    cuts = [float(c) for c in cuts]
    columns = min(MOSAIC_COLUMNS, len(cuts))
    h_axis, v_axis = (a for a in range(3) if a != axis)
    extent = s.bounds[1] - s.bounds[0]
    width = (MOSAIC_WIDTH - bar_space(s)) * DENSITY - (columns - 1) * GAP * DENSITY
    per_mm = fitted_per_mm(width, columns * extent[h_axis], extent[v_axis])
    tiles = [(axis, cut, panel(s, axis, cut, per_mm)) for cut in cuts]
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    return compose(s, rows, label_margin=True)


def single_slice(s: Scene, axis: int, position: float) -> bytes:
    """One slice, for embedding (the on-demand endpoint)."""
    extent = s.bounds[1] - s.bounds[0]
    h_axis, v_axis = (a for a in range(3) if a != axis)
    per_mm = fitted_per_mm((SLICE_WIDTH - bar_space(s)) * DENSITY, extent[h_axis], extent[v_axis])
    return compose(s, [[(axis, position, panel(s, axis, position, per_mm, skip_empty_cuts=False))]],
                   label_margin=True)


def check_cuts(s: Scene, axis: int, cuts) -> None:
    """ValueError naming the coordinate when a cut is outside the drawn box along ``axis``."""
    low, high = float(s.bounds[0, axis]), float(s.bounds[1, axis])
    for cut in cuts:
        if not low <= cut <= high:
            raise ValueError(f"{AXIS_NAMES[axis]} = {cut:g} mm is outside the picture's field of view "
                             f"({low:.0f} to {high:.0f} mm)")


def on_demand(data: np.ndarray, affine: np.ndarray, *, axis: int, mm: float | None = None, cut_coords=None,
              threshold_value: float | None = None, default_threshold: Threshold | None = None,
              colour_map: str = "cold_hot", map_type: str | None = None, mni: bool = True) -> bytes:
    """One slice (through ``mm``, default the peak) or a mosaic (``cut_coords``), as asked in a URL.

    ``threshold_value`` replaces the map's own threshold (same tails);
    ValueError (with a sentence) for a cut outside the field of view.
    """
    threshold = default_threshold
    if threshold_value is not None:
        if default_threshold is not None:
            two_sided = default_threshold.two_sided
        else:
            with np.errstate(invalid="ignore"):
                two_sided = bool((first_volume(data) < 0).any())
        below = default_threshold is not None and default_threshold.below
        name = "|value|" if two_sided else "value"
        rule = f"{name} {'≤' if below else '≥'} {threshold_value:g} (asked for)"
        threshold = Threshold(float(threshold_value), two_sided, rule, below=below)
    s = scene(data, affine, threshold=threshold, map_type=map_type, mni=mni, colour_map=colour_map)
    if cut_coords:
        check_cuts(s, axis, cut_coords)
        return mosaic(s, axis, cut_coords)
    position = float(s.peak_mm[axis]) if mm is None else float(mm)
    check_cuts(s, axis, [position])
    return single_slice(s, axis, position)


def mosaic_cuts(s: Scene, count: int = MOSAIC_CUTS) -> list[float]:
    """``count`` axial positions (mm) evenly inside the z extent of the map's non-zero voxels."""
    highest, lowest = s.plane_extremes[2]
    planes = np.flatnonzero((highest > 0) | (lowest < 0))  # NaN is neither here nor there
    if planes.size == 0:
        low, high = float(s.bounds[0, 2]), float(s.bounds[1, 2])
    else:
        z = s.affine[2, 2] * planes + s.affine[2, 3]
        low, high = float(z.min()), float(z.max())
        low, high = max(low, float(s.bounds[0, 2])), min(high, float(s.bounds[1, 2]))
    return [round(c, 1) for c in np.linspace(low, high, count + 2)[1:-1]]


def pictures(data: np.ndarray, affine: np.ndarray, *, threshold: Threshold | None, map_type: str | None = None,
             mni: bool = True, planes=None) -> dict[str, bytes]:
    """"ortho", "axial_mosaic" and "glass_brain" of a map's first volume.

    Drawn one after the other: on three threads (numpy and Pillow's encoder release the GIL) they
    were no faster on the busy 2-core machine, where the worker's other processes hold the cores.
    """
    s = scene(data, affine, threshold=threshold, map_type=map_type, mni=mni, planes=planes)
    return {"glass_brain": glass_brain(s), "ortho": ortho(s), "axial_mosaic": axial_mosaic(s)}


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header."""
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size
