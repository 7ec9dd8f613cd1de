"""PNG thumbnails of a map, with numpy and Pillow only.

Rendering runs on every upload, so it avoids matplotlib (and nilearn's
plotting, seconds per map). The slices over anatomy, the axial mosaic and
the glass brain are drawn by ``workers.slices``; this module keeps what they
share with the series mosaic (RAS reorientation, the first volume) and the
mosaic of a 4D series' volumes:

* the volume is first reoriented to RAS with nibabel (``io_orientation``),
  so every view is neurological (the brain's left on the picture's left);
* pixels have the voxels' physical aspect (voxel sizes from the affine);
* the series mosaic uses a blue-white-red scale symmetric around 0 for
  signed series, a yellow-to-red scale otherwise, saturating at the 99.5th
  percentile of absolute values; NaN and zero voxels are background (white).

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

from workers.plain import first_volume  # noqa: F401  (one first_volume: the slice modules import it from here)

MOSAIC_WIDTH = 600
MOSAIC_MAX_VOLUMES = 16
MAX_PANEL_PIXELS = 1200
GAP = 6
BACKGROUND = (255, 255, 255)
LABEL = (90, 90, 90)
SATURATION_PERCENTILE = 99.5
SAMPLE_SIZE = 50_000
PNG_COMPRESS_LEVEL = 1  # palette thumbnails: level 1 is a few % larger and several times faster than 6


LEVELS = 250  # palette entries for the colour scale; the last few hold background, outline and labels
BACKGROUND_INDEX, LABEL_INDEX = LEVELS, LEVELS + 1


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
        extra = np.array([BACKGROUND, LABEL], dtype=np.uint8)
        entries = np.concatenate([self.lut, extra])
        return np.pad(entries, ((0, 256 - len(entries)), (0, 0))).ravel().tolist()


# --------------------------------------------------------------------------
# public API

def render_all(data: np.ndarray, affine: np.ndarray, *, threshold=None, map_type: str | None = None,
               mni: bool = True, planes=None) -> dict[str, bytes]:
    """Every thumbnail: "glass_brain", "ortho", "axial_mosaic", and "mosaic" (the volumes) for 4D series.

    ``threshold`` (a ``workers.thresholds.Threshold``, None: every non-zero
    voxel) and ``map_type`` decide what is coloured and how; ``mni`` False
    draws over the map's own first volume instead of the MNI template; ``planes``: the first volume's
    ``workers.planes.plane_extremes``, when the caller has them.
    """
    from workers import slices

    pictures = slices.pictures(data, affine, threshold=threshold, map_type=map_type, mni=mni, planes=planes)
    if data.ndim == 4 and data.shape[3] > 1:
        pictures["mosaic"] = mosaic_4d(data, affine)
    return pictures


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

def to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The array flipped and transposed to the closest RAS orientation, with its affine."""
    affine = np.asarray(affine, dtype=np.float64)
    orientation = orientation_of(affine.tobytes())
    if np.any(np.isnan(orientation)):
        return data, affine
    return apply_orientation(data, orientation), affine @ inv_ornt_aff(orientation, data.shape[:3])


@lru_cache(maxsize=64)
def orientation_of(affine_bytes: bytes) -> np.ndarray:
    """nibabel's ``io_orientation`` of an affine, kept: it costs half a millisecond and uploads share a few grids."""
    orientation = io_orientation(np.frombuffer(affine_bytes).reshape(4, 4))
    orientation.setflags(write=False)
    return orientation


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


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    """Pillow's default font, loaded once: loading it on every label was a tenth of the rendering time."""
    return ImageFont.load_default()


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
