"""PNG thumbnails of a map, with numpy and Pillow only.

Rendering runs on every upload, so it avoids matplotlib (and nilearn's
plotting, seconds per map): colours come from small lookup tables, panels are
array slices or maximum projections, scaled with nearest-neighbour resizing.

Conventions, shared by every picture:

* the volume is first reoriented to RAS with nibabel (``io_orientation``),
  so every view is neurological: the brain's left is on the picture's left
  ("L" and "R" are written on coronal and axial panels), anterior is up in
  axial views and right in sagittal ones, superior is up;
* pixels have the voxels' physical aspect (voxel sizes from the affine);
* signed maps use a blue-white-red scale symmetric around 0, maps without
  negative values a yellow-to-red scale from 0; the scale saturates at the
  99.5th percentile of absolute values so one outlier can't wash a map out;
* NaN and zero voxels are background (white), infinities saturate;
* for 4D images the orthogonal slices and the glass brain show the first
  volume, and ``mosaic_4d`` the middle axial slice of up to 16 volumes.

An empty map (all zero or NaN) still gives a valid, blank picture.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from PIL import Image, ImageDraw, ImageFont

from workers.mni import mni_brain_mask
from workers.stats import first_position

ORTHO_WIDTH = 600
GLASS_WIDTH = 480
MOSAIC_WIDTH = 600
MOSAIC_MAX_VOLUMES = 16
MAX_PANEL_PIXELS = 1200
GAP = 6
BACKGROUND = (255, 255, 255)
OUTLINE = (150, 150, 150)
LABEL = (90, 90, 90)
SATURATION_PERCENTILE = 99.5
SAMPLE_SIZE = 50_000
PNG_COMPRESS_LEVEL = 1  # palette thumbnails: level 1 is a few % larger and several times faster than 6
VIEWS = ((1, 2), (0, 2), (0, 1))  # (horizontal, vertical) axes of the sagittal, coronal and axial views


LEVELS = 250  # palette entries for the colour scale; the last few hold background, outline and labels
BACKGROUND_INDEX, OUTLINE_INDEX, LABEL_INDEX = LEVELS, LEVELS + 1, LEVELS + 2


def _lut(anchors: list[tuple[int, int, int]]) -> np.ndarray:
    positions = np.linspace(0, 1, len(anchors))
    steps = np.linspace(0, 1, LEVELS)
    channels = [np.interp(steps, positions, [a[c] for a in anchors]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


DIVERGING = _lut([(33, 102, 172), (103, 169, 207), (209, 229, 240), (247, 247, 247),
                  (253, 219, 199), (239, 138, 98), (178, 24, 43)])
SEQUENTIAL = _lut([(255, 237, 160), (254, 178, 76), (253, 141, 60), (227, 26, 28), (128, 0, 38)])


@dataclass(frozen=True)
class _Scale:
    """How values become colours: palette indices over one lookup table."""

    lut: np.ndarray
    low: float
    high: float

    @property
    def signed(self) -> bool:
        return self.low < 0

    @property
    def palette(self) -> list[int]:
        """Pictures are palette PNGs: a third of the pixels to compress, the same look."""
        extra = np.array([BACKGROUND, OUTLINE, LABEL], dtype=np.uint8)
        entries = np.concatenate([self.lut, extra])
        return np.pad(entries, ((0, 256 - len(entries)), (0, 0))).ravel().tolist()


@dataclass(frozen=True)
class _Prepared:
    """A volume in RAS orientation (NaN as 0) with what every picture needs."""

    volume: np.ndarray
    affine: np.ndarray
    zooms: np.ndarray
    scale: _Scale


# --------------------------------------------------------------------------
# public API

def render_all(data: np.ndarray, affine: np.ndarray) -> dict[str, bytes]:
    """Every thumbnail of an image: "glass_brain", "ortho", and "mosaic" for 4D series."""
    prepared = _prepare(first_volume(data), affine)
    pictures = {"glass_brain": _glass_brain_png(prepared), "ortho": _ortho_png(prepared)}
    if data.ndim == 4 and data.shape[3] > 1:
        pictures["mosaic"] = mosaic_4d(data, affine)
    return pictures


def orthogonal_slices(data: np.ndarray, affine: np.ndarray) -> bytes:
    """Sagittal, coronal and axial slices through the peak, side by side (PNG)."""
    return _ortho_png(_prepare(first_volume(data), affine))


def glass_brain(data: np.ndarray, affine: np.ndarray) -> bytes:
    """Maximum intensity projections in three views, over the MNI brain's outline (PNG)."""
    return _glass_brain_png(_prepare(first_volume(data), affine))


def mosaic_4d(data: np.ndarray, affine: np.ndarray) -> bytes:
    """The middle axial slice of up to 16 evenly spaced volumes, in a grid (PNG)."""
    series = data if data.ndim == 4 else data[..., None]
    picks = mosaic_picks(series.shape[3])
    planes = [mosaic_plane(series[..., t], affine) for t in picks]
    return mosaic_png(planes, picks, series.shape[:3], affine)


def mosaic_picks(n_volumes: int) -> list[int]:
    """The volumes a mosaic shows, evenly spaced; a series read volume by volume keeps only their planes."""
    return np.unique(np.linspace(0, n_volumes - 1, min(n_volumes, MOSAIC_MAX_VOLUMES)).round()).astype(int).tolist()


def mosaic_plane(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """One volume's middle axial slice in RAS orientation, NaN as 0 (a copy: the volume can be let go)."""
    ras, _ras_affine = to_ras(volume, affine)
    plane = np.array(ras[:, :, ras.shape[2] // 2])
    plane[np.isnan(plane)] = 0
    return plane


def mosaic_png(planes: list[np.ndarray], picks: list[int], volume_shape, affine: np.ndarray) -> bytes:
    """The mosaic of ``mosaic_plane``s, labelled with their volume numbers."""
    _ras, ras_affine = to_ras(np.empty(tuple(volume_shape[:3]) + (0,)), affine)  # the affine only: no voxels
    zooms = _zooms(ras_affine)
    width, height = planes[0].shape
    scale = colour_scale(np.stack(planes))
    columns = math.ceil(math.sqrt(len(picks)))
    rows = math.ceil(len(picks) / columns)
    tile_w = max(1, (MOSAIC_WIDTH - GAP * (columns - 1)) // columns)
    tile_h = _clamp(round(tile_w * height * zooms[1] / (width * zooms[0])))
    canvas = _canvas((columns * tile_w + GAP * (columns - 1), rows * tile_h + GAP * (rows - 1)), scale)
    draw = ImageDraw.Draw(canvas)
    for n, (t, plane) in enumerate(zip(picks, planes, strict=True)):
        tile = _panel(plane, scale, (tile_w, tile_h))
        x, y = (n % columns) * (tile_w + GAP), (n // columns) * (tile_h + GAP)
        canvas.paste(tile, (x, y))
        draw.text((x + 3, y + 2), f"t={t}", fill=LABEL_INDEX, font=_font())
    return _png(canvas)


# --------------------------------------------------------------------------
# shared steps

def first_volume(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    return data[..., 0] if data.ndim == 4 else data


def to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The array flipped and transposed to the closest RAS orientation, with its affine."""
    affine = np.asarray(affine, dtype=np.float64)
    orientation = io_orientation(affine)
    if np.any(np.isnan(orientation)):
        return data, affine
    return apply_orientation(data, orientation), affine @ inv_ornt_aff(orientation, data.shape[:3])


def colour_scale(values: np.ndarray) -> _Scale:
    """Diverging and symmetric when there are negative values, sequential from 0 otherwise.

    ``values`` must hold no NaN (NaN is background, pass it as 0).

    The saturation point comes from an evenly strided sample: a thumbnail's
    colour scale needs no exact percentile, and the sample keeps it cheap.
    """
    flat = np.asarray(values).ravel(order="K")
    sample = flat[::max(1, flat.size // SAMPLE_SIZE)]
    sample = np.abs(sample[np.isfinite(sample) & (sample != 0)])
    if sample.size == 0:
        return _Scale(SEQUENTIAL, 0.0, 1.0)
    kth = min(sample.size - 1, int(round(sample.size * SATURATION_PERCENTILE / 100)))
    magnitude = float(np.partition(sample, kth)[kth]) or float(sample.max())
    if flat.min() < 0:
        return _Scale(DIVERGING, -magnitude, magnitude)
    return _Scale(SEQUENTIAL, 0.0, magnitude)


def colourise(plane: np.ndarray, scale: _Scale) -> np.ndarray:
    """Palette indices for a 2D array; NaN and 0 are background."""
    background = np.isnan(plane) | (plane == 0)
    clean = np.where(background, scale.low, plane)
    # in float64: float32 values near ±3e38 overflow when the low end is subtracted
    position = np.subtract(clean, scale.low, dtype=np.float64) / (scale.high - scale.low)
    index = (np.clip(position, 0.0, 1.0) * (LEVELS - 1)).astype(np.uint8)
    index[background] = BACKGROUND_INDEX
    return index


def _prepare(volume: np.ndarray, affine: np.ndarray) -> _Prepared:
    """NaN becomes 0 once here: both are background, and projections then need no NaN handling.

    The RAS view is copied in its own memory order (flips undone, no
    transposition), so the copy is sequential and the volume stays
    contiguous for every later reduction; NaN is looked for only when the
    maximum (which propagates NaN) says there is one.
    """
    ras, ras_affine = to_ras(np.asarray(volume), affine)
    clean = ras.copy(order="K")
    if clean.size and clean.dtype.kind == "f" and np.isnan(clean.max()):
        clean[np.isnan(clean)] = 0
    return _Prepared(clean, ras_affine, _zooms(ras_affine), colour_scale(clean))


def _zooms(affine: np.ndarray) -> np.ndarray:
    """Voxel sizes relative to the largest, kept within 1:100 so no panel collapses."""
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    zooms = zooms / zooms.max() if zooms.max() > 0 and np.all(np.isfinite(zooms)) else np.ones(3)
    return np.clip(zooms, 0.01, 1.0)


def _clamp(pixels: float) -> int:
    return int(min(max(round(pixels), 1), MAX_PANEL_PIXELS))


def _to_picture(plane: np.ndarray) -> np.ndarray:
    """First axis left to right, second axis bottom to top."""
    return plane.T[::-1]


def _panel(plane: np.ndarray, scale: _Scale, size: tuple[int, int]) -> Image.Image:
    picture = Image.fromarray(np.ascontiguousarray(colourise(_to_picture(plane), scale)), "P")
    return picture.resize(size, Image.Resampling.NEAREST)


def _canvas(size: tuple[int, int], scale: _Scale) -> Image.Image:
    canvas = Image.new("P", size, BACKGROUND_INDEX)
    canvas.putpalette(scale.palette)
    return canvas


def _layout(prepared: _Prepared, width: int) -> list[tuple[int, int]]:
    """Pixel sizes of the three panels, sharing one mm scale, fitting ``width``."""
    extent = np.array(prepared.volume.shape[:3]) * prepared.zooms
    per_unit = (width - 2 * GAP) / sum(extent[h] for h, _v in VIEWS)
    return [(_clamp(extent[h] * per_unit), _clamp(extent[v] * per_unit)) for h, v in VIEWS]


def _side_by_side(panels: list[Image.Image], scale: _Scale) -> Image.Image:
    width = sum(p.width for p in panels) + GAP * (len(panels) - 1)
    height = max(p.height for p in panels)
    canvas = _canvas((width, height), scale)
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, (height - panel.height) // 2))
        x += panel.width + GAP
    return canvas


def _label_left_right(canvas: Image.Image, panels: list[Image.Image]) -> None:
    draw = ImageDraw.Draw(canvas)
    x = panels[0].width + GAP
    for panel in panels[1:]:
        top = (canvas.height - panel.height) // 2
        draw.text((x + 3, top + 2), "L", fill=LABEL_INDEX, font=_font())
        draw.text((x + panel.width - 10, top + 2), "R", fill=LABEL_INDEX, font=_font())
        x += panel.width + GAP


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    """Pillow's default font, loaded once: loading it on every label was a tenth of the rendering time."""
    return ImageFont.load_default()


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# orthogonal slices

def _peak_index(volume: np.ndarray) -> tuple[int, int, int]:
    """The first voxel (C order) of largest |value| (NaN already 0), or the centre when the map is empty."""
    highest, lowest = volume.max(), volume.min()
    value = highest if abs(highest) >= abs(lowest) else lowest
    if value == 0:
        return tuple(s // 2 for s in volume.shape[:3])
    return tuple(first_position(volume, value))


def _ortho_png(prepared: _Prepared) -> bytes:
    volume = prepared.volume
    x, y, z = _peak_index(volume)
    planes = [volume[x, :, :], volume[:, y, :], volume[:, :, z]]
    sizes = _layout(prepared, ORTHO_WIDTH)
    panels = [_panel(plane, prepared.scale, size) for plane, size in zip(planes, sizes, strict=True)]
    canvas = _side_by_side(panels, prepared.scale)
    _label_left_right(canvas, panels)
    return _png(canvas)


# --------------------------------------------------------------------------
# glass brain

def _projection(volume: np.ndarray, axis: int, signed: bool) -> np.ndarray:
    """Maximum intensity projection; for signed maps the value of largest |value|, sign kept."""
    highest = volume.max(axis=axis)
    if not signed:
        return highest
    lowest = volume.min(axis=axis)
    return np.where(highest >= -lowest, highest, lowest)


def _glass_brain_png(prepared: _Prepared) -> bytes:
    volume = prepared.volume
    sizes = _layout(prepared, GLASS_WIDTH)
    panels = []
    for axis, ((h, v), size) in enumerate(zip(VIEWS, sizes, strict=True)):
        panel = _panel(_projection(volume, axis, prepared.scale.signed), prepared.scale, size)
        _draw_outline(panel, prepared.affine, volume.shape, (h, v), axis)
        panels.append(panel)
    canvas = _side_by_side(panels, prepared.scale)
    _label_left_right(canvas, panels)
    return _png(canvas)


def _draw_outline(panel: Image.Image, affine: np.ndarray, shape, axes: tuple[int, int], along: int) -> None:
    """Grey MNI brain outline on the panel's background pixels."""
    h, v = axes
    outline = _outline(panel.size, (shape[h], shape[v]), (float(affine[h, h]), float(affine[h, 3]),
                                                          float(affine[v, v]), float(affine[v, 3])), axes, along)
    pixels = np.asarray(panel).copy()
    pixels[outline & (pixels == BACKGROUND_INDEX)] = OUTLINE_INDEX
    panel.paste(Image.fromarray(pixels, "P"))


@lru_cache(maxsize=64)
def _outline(size: tuple[int, int], voxels: tuple[int, int], steps: tuple[float, float, float, float],
             axes: tuple[int, int], along: int) -> np.ndarray:
    """The outline's pixels for one panel geometry; most uploads share a few grids, so it is cached."""
    silhouette, mask_affine = _mni_silhouette(along)
    h, v = axes
    step_h, origin_h, step_v, origin_v = steps
    columns = _pixel_mm(size[0], voxels[0], step_h, origin_h)
    rows = _pixel_mm(size[1], voxels[1], step_v, origin_v)[::-1]
    i = np.floor((columns - mask_affine[h, 3]) / mask_affine[h, h] + 0.5).astype(np.int64)
    j = np.floor((rows - mask_affine[v, 3]) / mask_affine[v, v] + 0.5).astype(np.int64)
    ok_i = (i >= 0) & (i < silhouette.shape[0])
    ok_j = (j >= 0) & (j < silhouette.shape[1])
    inside = silhouette[np.ix_(np.where(ok_i, i, 0), np.where(ok_j, j, 0))] & ok_i[:, None] & ok_j[None, :]
    outline = (inside & ~_eroded(inside)).T
    outline.setflags(write=False)
    return outline


def _pixel_mm(n_pixels: int, n_voxels: int, step: float, origin: float) -> np.ndarray:
    """mm coordinate of each pixel centre along one panel axis."""
    voxel = (np.arange(n_pixels) + 0.5) * (n_voxels / n_pixels) - 0.5
    return origin + step * voxel


def _eroded(inside: np.ndarray) -> np.ndarray:
    core = inside.copy()
    core[1:, :] &= inside[:-1, :]
    core[:-1, :] &= inside[1:, :]
    core[:, 1:] &= inside[:, :-1]
    core[:, :-1] &= inside[:, 1:]
    return core


@lru_cache(maxsize=3)
def _mni_silhouette(along: int) -> tuple[np.ndarray, np.ndarray]:
    """The MNI brain mask projected along one axis (axis order kept), with the mask's affine."""
    mask, mask_affine = mni_brain_mask()
    ras, ras_affine = to_ras(mask, mask_affine)
    return ras.any(axis=along), ras_affine
