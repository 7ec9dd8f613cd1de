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
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from workers.mni import mni_brain_mask, mni_template, sample_plane
from workers.render import first_volume, to_ras
from workers.stats import first_position
from workers.thresholds import Threshold

DENSITY = 2
ORTHO_WIDTH = 600  # CSS pixels; the PNG is DENSITY times larger
MOSAIC_WIDTH = 600
GLASS_WIDTH = 480
SLICE_WIDTH = 400
MOSAIC_CUTS = 10
MOSAIC_COLUMNS = 5
MAX_CUTS = 12
MNI_MARGIN_MM = 4.0
FONT_SIZE = 11
BAR_WIDTH = 12
BAR_SPACE = 52  # the colour bar and its labels, in CSS pixels
GAP = 4

# palette: grey anatomy, the colour map, label colours, then a few fixed colours
GREYS = 64  # 64 grey levels: no visible banding, files ~13 % smaller than with 96
COLOURS = 128
OVERLAY = GREYS
LABELS = GREYS + COLOURS
N_LABEL_COLOURS = 24
WHITE, TEXT, DARK_TEXT, OUTLINE, ROI, GAP_GREY = range(LABELS + N_LABEL_COLOURS, LABELS + N_LABEL_COLOURS + 6)
FIXED_COLOURS = [(255, 255, 255), (255, 255, 255), (60, 60, 60), (160, 160, 160), (60, 255, 60), (110, 110, 110)]
SAMPLE_SIZE = 50_000
PNG_COMPRESS_LEVEL = 1  # level 1: a few % larger than 6 and several times faster (as workers.render)
THRESHOLD_SAMPLE = 1_000_000
TEMPLATE_PLANES_KEPT = 64  # about 6 MiB of grey levels

ROI_TYPES, PARCELLATION_TYPES, ANATOMY_TYPES = frozenset({"R"}), frozenset({"Pa"}), frozenset({"A"})
AXIS_NAMES = "xyz"
VIEW_OF_AXIS = {0: "sagittal", 1: "coronal", 2: "axial"}


def _ramp(anchors, n: int) -> np.ndarray:
    positions = np.linspace(0, 1, len(anchors))
    steps = np.linspace(0, 1, n)
    return np.stack([np.interp(steps, positions, [a[c] for a in anchors]) for c in range(3)], axis=1)


HOT = ((90, 0, 0), (230, 0, 0), (255, 150, 0), (255, 240, 60), (255, 255, 200))
COLD = ((0, 0, 90), (0, 0, 230), (0, 150, 255), (60, 240, 255), (200, 255, 255))
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
GREY_RAMP = ((40, 40, 40), (255, 255, 255))


def _colour_map(name: str, signed: bool) -> np.ndarray:
    """COLOURS entries from the low end of the range to the high end."""
    if name == "cold_hot" and signed:
        half = COLOURS // 2
        return np.concatenate([_ramp(COLD[::-1], half), _ramp(HOT, COLOURS - half)])
    anchors = {"cold_hot": HOT, "hot": HOT, "viridis": VIRIDIS, "gray": GREY_RAMP}[name]
    return _ramp(anchors, COLOURS)


COLOUR_MAPS = ("cold_hot", "hot", "viridis", "gray")
LABEL_COLOURS = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128), (255, 99, 71), (46, 139, 87), (65, 105, 225), (218, 165, 32)])


@lru_cache(maxsize=16)
def palette(colour_map: str = "cold_hot", signed: bool = True) -> tuple[int, ...]:
    greys = np.repeat(np.linspace(0, 255, GREYS)[:, None], 3, axis=1)
    entries = np.concatenate([greys, _colour_map(colour_map, signed), LABEL_COLOURS, FIXED_COLOURS])
    entries = np.round(entries).astype(np.uint8)
    return tuple(np.pad(entries, ((0, 256 - len(entries)), (0, 0))).ravel().tolist())


# --------------------------------------------------------------------------
# what a picture is made of

@dataclass
class Scene:
    """A map ready to draw: RAS volume and affine, its anatomy, its range and how it is shown."""

    volume: np.ndarray
    affine: np.ndarray
    anatomy: np.ndarray
    anatomy_affine: np.ndarray
    anatomy_range: tuple[float, float]
    bounds: np.ndarray  # world (RAS mm) box drawn: [[xmin, ymin, zmin], [xmax, ymax, zmax]]
    style: str  # "map", "roi", "labels" or "anatomy"
    threshold: Threshold | None
    vmax: float
    signed: bool
    mni: bool
    colour_map: str = "cold_hot"
    peak_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def palette(self) -> tuple[int, ...]:
        return palette(self.colour_map, self.signed)

    @cached_property
    def shown_planes(self) -> list[np.ndarray] | None:
        """Per world axis, which voxel planes hold a shown voxel (None for oblique grids): empty cuts skip the map."""
        if self.style != "map" or not np.allclose(self.affine[:3, :3], np.diag(np.diag(self.affine[:3, :3]))):
            return None
        shown = _shown(self.volume, self.threshold)
        return [shown.any(axis=tuple(a for a in range(3) if a != axis)) for axis in range(3)]

    def may_show(self, axis: int, position: float) -> bool:
        """False when no voxel the plane interpolates from is shown (then no pixel of it can be)."""
        planes = self.shown_planes
        if planes is None:
            return True
        index = (position - self.affine[axis, 3]) / self.affine[axis, axis]
        near = [int(np.floor(index)), int(np.ceil(index))]
        return any(0 <= i < len(planes[axis]) and planes[axis][i] for i in near)


def style_of(map_type: str | None) -> str:
    if map_type in ROI_TYPES:
        return "roi"
    if map_type in PARCELLATION_TYPES:
        return "labels"
    if map_type in ANATOMY_TYPES:
        return "anatomy"
    return "map"


def scene(data: np.ndarray, affine: np.ndarray, *, threshold: Threshold | None, map_type: str | None = None,
          mni: bool = True, colour_map: str = "cold_hot") -> Scene:
    """Everything the drawings of one map share; the first volume of a 4D series."""
    ras, ras_affine = to_ras(np.asarray(first_volume(data)), np.asarray(affine, np.float64))
    volume = np.array(ras, dtype=np.float32, order="K")
    style = style_of(map_type)
    low, high = _extremes(volume)
    if not (np.isfinite(low) and np.isfinite(high)):
        top = np.finfo(np.float32).max
        np.clip(volume, -top, top, out=volume)  # infinities saturate, NaN stays missing
        low, high = _extremes(volume)
    signed, vmax = _range(low, high, threshold)
    if mni and style != "anatomy":
        anatomy, anatomy_affine = mni_template()
        anatomy_range = (0.0, 1.0)
        bounds = _mni_bounds()
    else:
        anatomy, anatomy_affine = volume, ras_affine
        anatomy_range = _robust_range(volume)
        bounds = _field_of_view(volume.shape, ras_affine)
    cut = _centre_mm(volume, ras_affine) if style in ("roi", "labels") else _peak_mm(volume, ras_affine, low, high)
    return Scene(volume, ras_affine, anatomy, anatomy_affine, anatomy_range, bounds, style, threshold, vmax, signed,
                 mni and style != "anatomy", colour_map, cut)


def _extremes(volume: np.ndarray) -> tuple[float, float]:
    """Lowest and highest values, NaN ignored (fmin/fmax: one pass each, no copy); NaN for an all-NaN map."""
    if not volume.size:
        return 0.0, 0.0
    flat = volume.ravel(order="K")
    return float(np.fmin.reduce(flat)), float(np.fmax.reduce(flat))


def _range(low: float, high: float, threshold: Threshold | None) -> tuple[bool, float]:
    """Signed (two colour tails) or not, and the largest |value| (the colour bar's end), as nilearn does."""
    high = 0.0 if not np.isfinite(high) else high
    low = 0.0 if not np.isfinite(low) else low
    signed = threshold.two_sided if threshold is not None else low < 0
    vmax = max(abs(high), abs(low)) if signed else max(high, 0.0)
    return signed, vmax or 1.0


def _robust_range(volume: np.ndarray) -> tuple[float, float]:
    """Grey levels of a map's own anatomy: its 2nd to 98th percentile of finite non-zero values (a sample)."""
    flat = volume.ravel(order="K")
    sample = flat[::max(1, flat.size // SAMPLE_SIZE)]
    sample = sample[np.isfinite(sample) & (sample != 0)]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(sample, [2, 98])
    return float(low), float(high) if high > low else float(low) + 1.0


@lru_cache(maxsize=1)
def _mni_bounds() -> np.ndarray:
    """The MNI brain's box, with a margin: what nilearn's plots over the template show."""
    mask, affine = mni_brain_mask(2)
    inside = np.argwhere(mask)
    corners = np.array([inside.min(axis=0), inside.max(axis=0)], np.float64)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    box = np.array([world.min(axis=0) - MNI_MARGIN_MM, world.max(axis=0) + MNI_MARGIN_MM])
    box.setflags(write=False)
    return box


def _field_of_view(shape, affine: np.ndarray) -> np.ndarray:
    """The world box covered by a grid's voxels (their outer faces, not centres)."""
    corners = np.array(np.meshgrid(*[[-0.5, s - 0.5] for s in shape[:3]], indexing="ij")).reshape(3, -1).T
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    return np.array([world.min(axis=0), world.max(axis=0)])


def _centre_mm(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World position of the labelled voxel nearest the labels' centre of mass: where a mask is best cut."""
    labelled = np.argwhere((volume != 0) & ~np.isnan(volume))
    if not labelled.size:
        index = (np.array(volume.shape[:3]) - 1) / 2
    else:
        centre = labelled.mean(axis=0)
        index = labelled[np.argmin(((labelled - centre) ** 2).sum(axis=1))].astype(np.float64)
    return affine[:3, :3] @ index + affine[:3, 3]


def _peak_mm(volume: np.ndarray, affine: np.ndarray, low: float, high: float) -> np.ndarray:
    """World position of the voxel of largest |value| (first in C order), the centre for an empty map."""
    low, high = (0.0 if not np.isfinite(v) else v for v in (low, high))
    value = high if abs(high) >= abs(low) else low
    if value == 0:
        index = (np.array(volume.shape[:3]) - 1) / 2
    else:
        index = np.array(first_position(volume, np.float32(value)), np.float64)
    return affine[:3, :3] @ index + affine[:3, 3]


# --------------------------------------------------------------------------
# one panel: palette indices of a plane

def panel(s: Scene, axis: int, position: float, pixels_per_mm: float) -> np.ndarray:
    """Palette indices (rows top to bottom) of the plane through ``position`` mm along world ``axis``."""
    h_axis, v_axis = (a for a in range(3) if a != axis)
    h, v = _pixel_grid(s.bounds, h_axis, pixels_per_mm), _pixel_grid(s.bounds, v_axis, pixels_per_mm)
    if s.mni:
        index = _template_plane(axis, position, h, v).copy()
    else:
        index = _grey_index(sample_plane(s.anatomy, s.anatomy_affine, axis, position, h, v), *s.anatomy_range)
    if s.style == "map" and s.may_show(axis, position):
        values = sample_plane(s.volume, s.affine, axis, position, h, v)
        shown = _shown(values, s.threshold)
        index[shown] = colour_index(values[shown], s.vmax, s.signed)
    elif s.style == "roi":
        inside = np.nan_to_num(sample_plane(s.volume, s.affine, axis, position, h, v, nearest=True)) != 0
        index[inside & ~_eroded(_eroded(inside))] = ROI  # two pixels wide: visible at 2x
    elif s.style == "labels":
        labels = np.nan_to_num(sample_plane(s.volume, s.affine, axis, position, h, v, nearest=True))
        labelled = labels != 0
        index[labelled] = LABELS + (np.abs(labels[labelled]).astype(np.int64) % N_LABEL_COLOURS)
    return np.ascontiguousarray(index.T[::-1])


@lru_cache(maxsize=TEMPLATE_PLANES_KEPT)
def _template_plane(axis: int, position: float, h: tuple, v: tuple) -> np.ndarray:
    """The MNI template's grey levels on one plane, kept: cuts repeat across maps (same grids, same extents)."""
    template, affine = mni_template()
    index = _grey_index(sample_plane(template, affine, axis, position, h, v), 0.0, 1.0)
    index.setflags(write=False)
    return index


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


def _shown(values: np.ndarray, threshold: Threshold | None) -> np.ndarray:
    """Suprathreshold pixels; without a threshold, every non-zero value."""
    if threshold is None:
        return np.isfinite(values) & (values != 0)
    return threshold.mask(values)  # never NaN, and infinities were clipped


def colour_index(values: np.ndarray, vmax: float, signed: bool) -> np.ndarray:
    """Palette indices of values on the colour map: [-vmax, vmax] for signed maps, [0, vmax] otherwise."""
    low = -vmax if signed else 0.0
    position = (np.asarray(values, np.float64) - low) / (vmax - low)
    return (OVERLAY + np.clip(position * COLOURS, 0, COLOURS - 1)).astype(np.uint8)


def _eroded(inside: np.ndarray) -> np.ndarray:
    core = inside.copy()
    core[1:, :] &= inside[:-1, :]
    core[:-1, :] &= inside[1:, :]
    core[:, 1:] &= inside[:, :-1]
    core[:, :-1] &= inside[:, 1:]
    return core


# --------------------------------------------------------------------------
# pictures

def ortho(s: Scene, cut_mm=None) -> bytes:
    """Sagittal, coronal and axial slices through ``cut_mm`` (default: the peak), with the colour bar."""
    cut = s.peak_mm if cut_mm is None else np.asarray(cut_mm, np.float64)
    extent = s.bounds[1] - s.bounds[0]
    width = (ORTHO_WIDTH - _bar_space(s)) * DENSITY - 2 * GAP * DENSITY
    per_mm = width / (extent[1] + extent[0] + extent[0])
    panels = [(axis, float(cut[axis]), panel(s, axis, float(cut[axis]), per_mm)) for axis in range(3)]
    return _compose(s, [panels], label_margin=True)


def axial_mosaic(s: Scene, cut_mm=None) -> bytes:
    """Axial slices evenly spread across the map's extent (or at ``cut_mm``), in rows, with the colour bar."""
    return mosaic(s, 2, mosaic_cuts(s) if cut_mm is None else cut_mm)


def mosaic(s: Scene, axis: int, cuts) -> bytes:
    """Slices along world ``axis`` at each of ``cuts`` (mm), MOSAIC_COLUMNS to a row."""
    cuts = [float(c) for c in cuts]
    columns = min(MOSAIC_COLUMNS, len(cuts))
    h_axis = [a for a in range(3) if a != axis][0]
    extent = s.bounds[1] - s.bounds[0]
    width = (MOSAIC_WIDTH - _bar_space(s)) * DENSITY - (columns - 1) * GAP * DENSITY
    per_mm = width / (columns * extent[h_axis])
    tiles = [(axis, cut, panel(s, axis, cut, per_mm)) for cut in cuts]
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    return _compose(s, rows, label_margin=True)


def single_slice(s: Scene, axis: int, position: float) -> bytes:
    """One slice, for embedding (the on-demand endpoint)."""
    extent = s.bounds[1] - s.bounds[0]
    h_axis = [a for a in range(3) if a != axis][0]
    per_mm = (SLICE_WIDTH - _bar_space(s)) * DENSITY / extent[h_axis]
    return _compose(s, [[(axis, position, panel(s, axis, position, per_mm))]], label_margin=True)


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
        name = "|value|" if two_sided else "value"
        threshold = Threshold(float(threshold_value), two_sided, f"{name} ≥ {threshold_value:g} (asked for)")
    s = scene(data, affine, threshold=threshold, map_type=map_type, mni=mni, colour_map=colour_map)
    if cut_coords:
        check_cuts(s, axis, cut_coords)
        return mosaic(s, axis, cut_coords)
    position = float(s.peak_mm[axis]) if mm is None else float(mm)
    check_cuts(s, axis, [position])
    return single_slice(s, axis, position)


def mosaic_cuts(s: Scene, count: int = MOSAIC_CUTS) -> list[float]:
    """``count`` axial positions (mm) evenly inside the z extent of the map's non-zero voxels."""
    planes = np.flatnonzero(np.fmax.reduce(np.abs(s.volume), axis=(0, 1)) > 0)  # NaN is neither here nor there
    if planes.size == 0:
        low, high = float(s.bounds[0, 2]), float(s.bounds[1, 2])
    else:
        z = s.affine[2, 2] * planes + s.affine[2, 3]
        low, high = float(z.min()), float(z.max())
        low, high = max(low, float(s.bounds[0, 2])), min(high, float(s.bounds[1, 2]))
    return [round(c, 1) for c in np.linspace(low, high, count + 2)[1:-1]]


def _bar_space(s: Scene) -> int:
    return BAR_SPACE if s.style == "map" else 0


def _compose(s: Scene, rows: list[list[tuple[int, float, np.ndarray]]], *, label_margin: bool) -> bytes:
    """Panels in rows on black, each with its coordinate and L/R marks, the colour bar on the right."""
    gap = GAP * DENSITY
    text_h = (FONT_SIZE + 4) * DENSITY if label_margin else 0
    row_heights = [max(p.shape[0] for _a, _c, p in row) + text_h for row in rows]
    row_widths = [sum(p.shape[1] for _a, _c, p in row) + gap * (len(row) - 1) for row in rows]
    bar = _bar_space(s) * DENSITY
    canvas = np.zeros((sum(row_heights) + gap * (len(rows) - 1), max(row_widths) + bar), np.uint8)
    top = 0
    for row, row_height in zip(rows, row_heights, strict=True):
        x = 0
        for axis, position, pixels in row:
            y = top + (row_height - text_h - pixels.shape[0]) // 2
            canvas[y:y + pixels.shape[0], x:x + pixels.shape[1]] = pixels
            _write(canvas, x + 2 * DENSITY, top + row_height - text_h + DENSITY,
                   f"{AXIS_NAMES[axis]} = {position:.0f}", TEXT)
            if axis != 0:
                _mark_sides(canvas, x, y, pixels.shape[1], TEXT)
            x += pixels.shape[1] + gap
        top += row_height + gap
    if bar:
        _colour_bar(canvas, s, max(row_widths) + gap, TEXT)
    return _png(canvas, s.palette, _metadata(s))


def _mark_sides(canvas: np.ndarray, x: int, y: int, width: int, colour: int) -> None:
    """"L" at the panel's top left, "R" at its top right (neurological convention)."""
    _write(canvas, x + 2 * DENSITY, y + DENSITY, "L", colour)
    _write(canvas, x + width - 9 * DENSITY, y + DENSITY, "R", colour)


def _write(canvas: np.ndarray, x: int, y: int, text: str, colour: int) -> None:
    """Text in one palette colour, clipped to the canvas; each string is rendered once per process."""
    stamp = _stamp(text)
    height = max(0, min(stamp.shape[0], canvas.shape[0] - y))
    width = max(0, min(stamp.shape[1], canvas.shape[1] - x))
    if x < 0 or y < 0 or not height or not width:
        return
    region = canvas[y:y + height, x:x + width]
    region[stamp[:height, :width]] = colour


@lru_cache(maxsize=512)
def _stamp(text: str) -> np.ndarray:
    """The pixels of a label, as Pillow's font draws it on a palette image (labels repeat: coordinates, L, R)."""
    font = _font(FONT_SIZE * DENSITY)
    left, top, right, bottom = font.getbbox(text)
    picture = Image.new("P", (max(1, right), max(1, bottom)), 0)
    ImageDraw.Draw(picture).text((0, 0), text, fill=1, font=font)
    stamp = np.asarray(picture) == 1
    stamp.setflags(write=False)
    return stamp


def bar_range(s: Scene) -> tuple[float, float]:
    """The colour bar's ends: [-vmax, vmax] for signed maps, [0, vmax] otherwise."""
    return (-s.vmax if s.signed else 0.0), s.vmax


def _colour_bar(canvas: np.ndarray, s: Scene, x: int, text_colour: int) -> None:
    """A vertical bar from the range's low end (bottom) to its high end (top); the values not shown in grey."""
    margin = (FONT_SIZE // 2 + 2) * DENSITY
    height = canvas.shape[0] - 2 * margin
    if height < 4:
        return
    low, high = bar_range(s)
    values = high - (np.arange(height) + 0.5) / height * (high - low)
    index = colour_index(values, s.vmax, s.signed)
    if s.threshold is not None and not s.threshold.nonzero:
        index[~s.threshold.mask(values)] = GAP_GREY
    canvas[margin:margin + height, x:x + BAR_WIDTH * DENSITY] = index[:, None]
    text_x = x + (BAR_WIDTH + 3) * DENSITY
    ticks = [(high, margin), (low, margin + height)]
    if s.threshold is not None and not s.threshold.nonzero and not s.threshold.below and 0 < s.threshold.value < high:
        ticks.append((s.threshold.value, margin + height * (high - s.threshold.value) / (high - low)))
        if s.signed:
            ticks.append((-s.threshold.value, margin + height * (high + s.threshold.value) / (high - low)))
    for value, y in ticks:
        _write(canvas, text_x, int(y) - FONT_SIZE * DENSITY // 2, _number(value), text_colour)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _metadata(s: Scene) -> dict[str, str]:
    """What the picture shows, in words, kept in the PNG (tests and curious readers can read it back)."""
    low, high = bar_range(s)
    info = {"space": "MNI152" if s.mni else "the map's own (not MNI)", "style": s.style}
    if s.style == "map":
        info["range"] = f"{low:.6g} {high:.6g}"
        info["threshold"] = s.threshold.rule if s.threshold is not None else "every non-zero voxel"
    return info


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's own scalable font, loaded once per size."""
    return ImageFont.load_default(size=size)


def _png(pixels: np.ndarray, colours: tuple[int, ...], info: dict[str, str]) -> bytes:
    picture = Image.fromarray(np.ascontiguousarray(pixels), "P")
    picture.putpalette(colours)
    chunks = PngInfo()
    for key, value in info.items():
        chunks.add_itxt(key, value)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL, pnginfo=chunks)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# glass brain

def glass_brain(s: Scene) -> bytes:
    """Projections of the suprathreshold voxels in three views, over the MNI outline (MNI maps), on white.

    For signed maps each ray keeps the value of largest |value|, so both tails
    show; below-threshold voxels never tint the brain.
    """
    volume = s.volume
    if s.style == "map":
        volume = np.where(_shown(volume, s.threshold), volume, 0)  # NaN is never shown
    elif s.style == "roi":
        volume = ((volume != 0) & ~np.isnan(volume)).astype(np.float32)
    else:
        volume = np.where(np.isnan(volume), 0, volume)
    zooms = np.linalg.norm(s.affine[:3, :3], axis=0)
    extent = np.array(volume.shape) * zooms
    views = ((1, 2), (0, 2), (0, 1))
    width = (GLASS_WIDTH - _bar_space(s)) * DENSITY - 2 * GAP * DENSITY
    per_mm = width / (extent[1] + extent[0] + extent[0])
    panels = []
    for axis, (h, v) in enumerate(views):
        size = (max(1, round(extent[h] * per_mm)), max(1, round(extent[v] * per_mm)))
        projected = _projection(volume, axis, s.signed or s.style == "labels")
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
            outline = _outline(size, s.affine.tobytes(), volume.shape, (h, v), axis)
            picture[outline & (picture == WHITE)] = OUTLINE
        panels.append((axis, picture))
    return _compose_glass(s, panels)


def _projection(volume: np.ndarray, axis: int, signed: bool) -> np.ndarray:
    highest = volume.max(axis=axis)
    if not signed:
        return highest
    lowest = volume.min(axis=axis)
    return np.where(highest >= -lowest, highest, lowest)


def _compose_glass(s: Scene, panels) -> bytes:
    gap = GAP * DENSITY
    bar = _bar_space(s) * DENSITY
    height = max(p.shape[0] for _a, p in panels)
    canvas = np.full((height, sum(p.shape[1] for _a, p in panels) + gap * (len(panels) - 1) + bar), WHITE, np.uint8)
    x = 0
    for axis, pixels in panels:
        y = (height - pixels.shape[0]) // 2
        canvas[y:y + pixels.shape[0], x:x + pixels.shape[1]] = pixels
        if axis != 0:
            _mark_sides(canvas, x, y, pixels.shape[1], DARK_TEXT)
        x += pixels.shape[1] + gap
    if bar:
        _colour_bar(canvas, s, x, DARK_TEXT)
    return _png(canvas, s.palette, _metadata(s))


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
    thick = inside & ~_eroded(_eroded(inside))
    outline = thick.T
    outline.setflags(write=False)
    return outline


# --------------------------------------------------------------------------
# every thumbnail of an upload

def shown_type(map_type: str | None, numbers: dict) -> str:
    """The map type the pictures follow: the uploader's, or the one the statistics inferred for "Other"."""
    inferred = numbers.get("inferred_map_type")
    if (map_type in (None, "", "Other")) and inferred not in (None, "Other"):
        return inferred
    return map_type or "Other"


def threshold_for(map_type: str | None, data: np.ndarray, numbers: dict, report: dict) -> Threshold | None:
    """The threshold the statistics chose (the cluster table's), else the rule of ``workers.thresholds``.

    ``report`` is the validation report (its NIfTI intent and description
    give the degrees of freedom of t, F and chi-squared maps).
    """
    from workers import thresholds

    stored = thresholds.from_stats(numbers.get("threshold"))
    if stored is not None:
        return stored
    return thresholds.choose(map_type, _threshold_sample(first_volume(data)),
                             is_thresholded=bool(numbers.get("is_thresholded")), dof=thresholds.dof_from_report(report))


def _threshold_sample(volume: np.ndarray) -> np.ndarray:
    """Up to THRESHOLD_SAMPLE values evenly strided, with both extremes (so the sign is exact).

    ``choose`` copies its values to float64: for a 1 mm map that was a third
    of the drawing time, and a percentile needs no more than a million values.
    """
    flat = np.asarray(volume).ravel(order="K")
    if flat.size <= THRESHOLD_SAMPLE:
        return flat
    low, high = _extremes(flat)
    return np.concatenate([flat[::flat.size // THRESHOLD_SAMPLE + 1], np.array([low, high], flat.dtype)])


def pictures(data: np.ndarray, affine: np.ndarray, *, threshold: Threshold | None, map_type: str | None = None,
             mni: bool = True) -> dict[str, bytes]:
    """"ortho", "axial_mosaic" and "glass_brain" of a map's first volume."""
    s = scene(data, affine, threshold=threshold, map_type=map_type, mni=mni)
    return {"glass_brain": glass_brain(s), "ortho": ortho(s), "axial_mosaic": axial_mosaic(s)}


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header."""
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size
