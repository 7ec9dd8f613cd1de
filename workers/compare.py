"""Two maps side by side: correlation over the voxels both have, overlap of what passes threshold, and pictures.

Both maps are put on the MNI152 2 mm grid (trilinear, ``workers.mni``), so maps
on any grids compare; only voxels inside the MNI brain mask count. A voxel is
*present* in a map when it is finite and non-zero there (zero is the background
of a statistic map, as in ``workers.stats``). Pearson and Spearman r are over
the voxels present in both; Dice is over each map's suprathreshold voxels at the
threshold its own page states (``workers.thresholds``).

The density scatter is a hexbin drawn with numpy and Pillow: no matplotlib in
the web process (its import alone takes about a second and 60 MiB).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .mni import mni_brain_mask, mni_template
from .resample import resample_linear
from .thresholds import Threshold

MIN_VOXELS_FOR_R = 3
SCATTER_SIZE = (420, 420)
MARGIN = 48
HEX_RADIUS = 5.0
SLICE_SCALE = 2
BACKGROUND = (255, 255, 255)
INK = (40, 44, 52)


def on_mni_grid(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The map's first volume on the MNI 2 mm grid (float32, NaN outside its field of view)."""
    volume = data[..., 0] if data.ndim == 4 else data
    mask, mask_affine = mni_brain_mask(2)
    return resample_linear(np.asarray(volume, dtype=np.float32), np.asarray(affine, np.float64), mask.shape,
                           mask_affine)


def threshold_from_record(record: dict | None) -> Threshold | None:
    """The Threshold an image's stats keep (``stats["threshold"]``); None when it has none."""
    if not record:
        return None
    value = record.get("value")
    return Threshold(value=math.inf if value is None else float(value), two_sided=bool(record.get("two_sided")),
                     rule=record.get("rule", ""), below=bool(record.get("below")),
                     nonzero=bool(record.get("nonzero")))


def compare(a: np.ndarray, b: np.ndarray, threshold_a: Threshold | None = None,
            threshold_b: Threshold | None = None) -> dict:
    """Pearson and Spearman r over voxels present in both, and Dice of suprathreshold voxels; plain JSON.

    ``a`` and ``b`` are on the MNI 2 mm grid (``on_mni_grid``).
    """
    brain = mni_brain_mask(2)[0]
    both = brain & present(a) & present(b)
    x, y = a[both].astype(np.float64), b[both].astype(np.float64)
    out = {"n_voxels": int(both.sum()), "pearson_r": correlation(x, y),
           "spearman_r": correlation(ranks(x), ranks(y)), "dice": None, "n_above_a": None, "n_above_b": None}
    if threshold_a is not None and threshold_b is not None:
        above_a = brain & threshold_a.mask(a)
        above_b = brain & threshold_b.mask(b)
        out.update(dice=dice(above_a, above_b), n_above_a=int(above_a.sum()), n_above_b=int(above_b.sum()))
    return out


def present(volume: np.ndarray) -> np.ndarray:
    return np.isfinite(volume) & (volume != 0)


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r; None with too few voxels or a constant map (r is undefined)."""
    if x.size < MIN_VOXELS_FOR_R:
        return None
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    if denominator == 0:
        return None
    return max(-1.0, min(1.0, float(x @ y) / denominator))


def ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values)


def dice(a: np.ndarray, b: np.ndarray) -> float | None:
    """2|A∩B| / (|A| + |B|); None when neither map has a suprathreshold voxel."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else None


# --------------------------------------------------------------------------
# pictures

def scatter_png(a: np.ndarray, b: np.ndarray, labels: tuple[str, str]) -> bytes:
    """A hexbin density scatter of the voxels present in both maps (inside the brain): b against a."""
    both = mni_brain_mask(2)[0] & present(a) & present(b)
    x, y = a[both].astype(np.float64), b[both].astype(np.float64)
    width, height = SCATTER_SIZE
    picture = Image.new("RGB", (width + 2 * MARGIN, height + 2 * MARGIN), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    draw.rectangle([MARGIN, MARGIN, MARGIN + width, MARGIN + height], outline=INK)
    if x.size:
        (x0, x1), (y0, y1) = padded_range(x), padded_range(y)
        px = (x - x0) / (x1 - x0) * width
        py = (1 - (y - y0) / (y1 - y0)) * height
        draw_hexbins(draw, px, py)
        if x0 < 0 < x1 and y0 < 0 < y1:
            zx, zy = MARGIN + (-x0) / (x1 - x0) * width, MARGIN + (1 - (-y0) / (y1 - y0)) * height
            draw.line([zx, MARGIN, zx, MARGIN + height], fill=(190, 190, 190))
            draw.line([MARGIN, zy, MARGIN + width, zy], fill=(190, 190, 190))
        draw.text((MARGIN, MARGIN + height + 4), f"{x0:.3g}", fill=INK, font=font)
        draw.text((MARGIN + width - 30, MARGIN + height + 4), f"{x1:.3g}", fill=INK, font=font)
        draw.text((4, MARGIN + height - 10), f"{y0:.3g}", fill=INK, font=font)
        draw.text((4, MARGIN), f"{y1:.3g}", fill=INK, font=font)
    else:
        draw.text((MARGIN + 10, MARGIN + height // 2), "No voxel is present in both maps.", fill=INK, font=font)
    draw.text((MARGIN + width // 2 - 40, MARGIN + height + 22), labels[0][:40], fill=INK, font=font)
    draw.text((MARGIN, 12), labels[1][:60] + " (vertical)", fill=INK, font=font)
    return png(picture)


def padded_range(values: np.ndarray) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.03 or max(abs(low), 1.0) * 0.1
    return low - pad, high + pad


def draw_hexbins(draw: ImageDraw.ImageDraw, px: np.ndarray, py: np.ndarray) -> None:
    """Pointy-top hexagons of HEX_RADIUS pixels, coloured by log count (light to dark blue)."""
    q = (math.sqrt(3) / 3 * px - py / 3) / HEX_RADIUS
    r = (2 / 3 * py) / HEX_RADIUS
    cells, counts = np.unique(np.stack(cube_round(q, r), axis=1), axis=0, return_counts=True)
    level = np.log1p(counts) / math.log1p(counts.max())
    corners = [(HEX_RADIUS * math.cos(math.radians(60 * k - 30)), HEX_RADIUS * math.sin(math.radians(60 * k - 30)))
               for k in range(6)]
    for (cq, cr), shade in zip(cells, level, strict=True):
        cx = MARGIN + HEX_RADIUS * math.sqrt(3) * (cq + cr / 2)
        cy = MARGIN + HEX_RADIUS * 1.5 * cr
        colour = tuple(int(round(light + (dark - light) * (0.15 + 0.85 * shade)))
                       for light, dark in zip((222, 235, 247), (8, 48, 107), strict=True))
        draw.polygon([(cx + dx, cy + dy) for dx, dy in corners], fill=colour)


def cube_round(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hexagon (axial q, r) each fractional position falls in."""
    s = -q - r
    rq, rr, rs = np.round(q), np.round(r), np.round(s)
    dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    rq = np.where(fix_q, -rr - rs, rq)
    rr = np.where(fix_r, -rq - rs, rr)
    return rq.astype(np.int64), rr.astype(np.int64)


def slices_png(a: np.ndarray, b: np.ndarray, at_mm, thresholds_ab=(None, None)) -> bytes:
    """Axial, coronal and sagittal slices of both maps (rows) through the same MNI point, over the template.

    Voxels past each map's threshold are coloured (warm positive, cool negative);
    without a threshold, the strongest 5 % are.
    """
    mask, affine = mni_brain_mask(2)
    template = resample_linear(*mni_template(), mask.shape, affine, outside=0.0)
    ijk = np.clip(np.rint(np.linalg.solve(affine, [*at_mm, 1.0])[:3]).astype(int), 0, np.array(mask.shape) - 1)
    rows = []
    for volume, threshold in zip((a, b), thresholds_ab, strict=True):
        shown = np.where(np.isfinite(volume), volume, 0)
        above = threshold.mask(shown) if threshold is not None else strongest(shown)
        top = float(np.abs(shown[above]).max()) if above.any() else 1.0
        rows.append([slice_panel(template, shown, above, top, axis, ijk[axis]) for axis in (2, 1, 0)])
    width = sum(panel.width for panel in rows[0]) + 4 * 2
    height = sum(row[0].height for row in rows) + 3 * 2
    picture = Image.new("RGB", (width, height), (0, 0, 0))
    y = 2
    for row in rows:
        x = 2
        for panel in row:
            picture.paste(panel, (x, y))
            x += panel.width + 2
        y += row[0].height + 2
    return png(picture)


def strongest(volume: np.ndarray) -> np.ndarray:
    values = np.abs(volume[volume != 0])
    if not values.size:
        return np.zeros(volume.shape, bool)
    return np.abs(volume) >= np.percentile(values, 95)


def slice_panel(template, volume, above, top, axis, index) -> Image.Image:
    """One slice: the template in grey, suprathreshold voxels in colour; anterior/superior up, left on the left."""
    take = [slice(None)] * 3
    take[axis] = index
    grey = np.asarray(template[tuple(take)], dtype=np.float32)
    values = volume[tuple(take)]
    over = above[tuple(take)]
    rgb = np.repeat((np.clip(grey, 0, 1) * 200)[..., None], 3, axis=2)
    strength = np.clip(np.abs(values) / top, 0, 1)
    warm = np.stack([np.full_like(strength, 255), 80 + 175 * strength, np.zeros_like(strength)], axis=-1)
    cool = np.stack([np.zeros_like(strength), 80 + 175 * strength, np.full_like(strength, 255)], axis=-1)
    colour = np.where((values > 0)[..., None], warm, cool)
    rgb = np.where(over[..., None], colour, rgb)
    picture = np.flipud(np.transpose(rgb, (1, 0, 2))).astype(np.uint8)
    image = Image.fromarray(picture, "RGB")
    return image.resize((image.width * SLICE_SCALE, image.height * SLICE_SCALE), Image.NEAREST)


def png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
