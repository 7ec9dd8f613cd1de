"""What a picture of a map is made of: its RAS volume, its anatomy, its range, its threshold, where to cut.

``scene`` is computed once per map and shared by every drawing of it
(``workers.slices`` for slices and mosaics, ``workers.glass`` for the glass brain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from workers.mni import mni_brain_mask, mni_template
from workers.palette import (
    ANATOMY_TYPES,
    MNI_MARGIN_MM,
    PARCELLATION_TYPES,
    ROI_TYPES,
    SAMPLE_SIZE,
    THRESHOLD_SAMPLE,
    palette,
)
from workers.plain import first_volume
from workers.planes import Extremes, extremes_of, first_in_ras_order, plane_extremes, reordered, shown_along
from workers.render import orientation_of
from workers.thresholds import Threshold


@dataclass
class Scene:
    """A map ready to draw: its volume (voxel axis a along world axis a) and affine, its anatomy, its range
    and how it is shown.

    The volume's axes are never flipped (``flipped`` says which run against RAS): reversing a 1 mm map's
    fastest axis was a 30 MiB copy at ~1.5 ns a voxel, and numpy's reductions over a reversed view are
    several times slower; the drawings read the volume through its affine, and flip only 2D arrays.
    """

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
    flipped: tuple[bool, bool, bool] = (False, False, False)
    #: per voxel axis, each plane's (highest, lowest) value (``plane_extremes``)
    plane_extremes: Extremes = field(default_factory=list)

    @property
    def ras_affine(self) -> np.ndarray:
        """The affine of the volume with its flipped axes reversed (RAS): what a picture's rows and columns follow."""
        return ras_affine(self.affine, self.volume.shape, self.flipped)

    def in_ras(self, plane: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        """A 2D array over two world ``axes`` of the volume (a projection), reversed where the volume is."""
        return plane[tuple(slice(None, None, -1) if self.flipped[a] else slice(None) for a in axes)]

    @property
    def palette(self) -> tuple[int, ...]:
        return palette(self.colour_map, self.signed)

    @cached_property
    def shown_planes(self) -> list[np.ndarray] | None:
        """Per world axis, which voxel planes hold a shown voxel (None for oblique grids): empty cuts skip the map."""
        off_diagonal = self.affine[:3, :3] - np.diag(np.diag(self.affine[:3, :3]))
        if self.style != "map" or np.abs(off_diagonal).max() > 1e-8:  # as np.allclose, without its cost
            return None
        if self.threshold is not None and self.threshold.below:  # shown values are not the planes' extremes
            shown = shown_mask(self.volume, self.threshold)
            return [shown.any(axis=tuple(a for a in range(3) if a != axis)) for axis in range(3)]
        return shown_along(self.plane_extremes, lambda values: shown_mask(values, self.threshold))

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
          mni: bool = True, colour_map: str = "cold_hot", planes: Extremes | None = None) -> Scene:
    """Everything the drawings of one map share; the first volume of a 4D series.

    ``planes``: the first volume's ``planes.plane_extremes`` (in its stored axes), when the caller has them.
    """
    stored = np.asarray(first_volume(data))
    volume, world_affine, flipped = world_ordered(stored, np.asarray(affine, np.float64))
    volume = np.asarray(volume, dtype=np.float32)  # never written to: a float32 map is not copied
    style = style_of(map_type)
    if map_type == "P":
        volume, threshold = as_significance(volume, threshold)
    if planes is not None and volume.dtype == stored.dtype and map_type != "P":
        planes = reordered(planes, world_axes(np.asarray(affine, np.float64)))
    else:
        planes = plane_extremes(volume)
    low, high = extremes_of(planes)
    if not (np.isfinite(low) and np.isfinite(high)):
        top = np.finfo(np.float32).max
        volume = np.clip(volume, -top, top)  # infinities saturate, NaN stays missing
        planes = plane_extremes(volume)
        low, high = extremes_of(planes)
    signed, vmax = _range(low, high, threshold)
    if mni and style != "anatomy":
        anatomy, anatomy_affine = mni_template()
        anatomy_range = (0.0, 1.0)
        bounds = _mni_bounds()
    else:
        anatomy, anatomy_affine = volume, world_affine
        anatomy_range = _robust_range(_reversed(volume, flipped))
        bounds = _field_of_view(volume.shape, world_affine)
    in_ras = ras_affine(world_affine, volume.shape, flipped)
    if style in ("roi", "labels"):
        cut = _centre_mm(_reversed(volume, flipped), in_ras)
    else:
        cut = _peak_mm(volume, world_affine, low, high, flipped, planes)
    return Scene(volume, world_affine, anatomy, anatomy_affine, anatomy_range, bounds, style, threshold, vmax, signed,
                 mni and style != "anatomy", colour_map, cut, flipped, planes)


def world_ordered(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[bool, bool, bool]]:
    """The array with its axes permuted (a view) so voxel axis a runs along world axis a (the closest RAS axes,
    nibabel's ``io_orientation``), its affine, and which axes run backwards (left, posterior or inferior first)."""
    orientation = orientation_of(affine.tobytes())
    if np.any(np.isnan(orientation)):
        return data, affine, (False, False, False)
    order = world_axes(affine)
    return (np.transpose(data, order + list(range(3, data.ndim))), affine[:, order + [3]],
            tuple(bool(orientation[a, 1] < 0) for a in order))


def world_axes(affine: np.ndarray) -> list[int]:
    """Which voxel axis ``world_ordered`` puts first, second and third (as stored for oblique grids)."""
    orientation = orientation_of(affine.tobytes())
    if np.any(np.isnan(orientation)):
        return [0, 1, 2]
    return [int(a) for a in np.argsort(orientation[:, 0])]


def ras_affine(affine: np.ndarray, shape, flipped) -> np.ndarray:
    """``affine`` for the same voxels with the ``flipped`` axes reversed."""
    out = np.array(affine, np.float64)
    for axis, backwards in enumerate(flipped):
        if backwards:
            out[:3, 3] += out[:3, axis] * (shape[axis] - 1)
            out[:3, axis] *= -1
    return out


def _reversed(volume: np.ndarray, flipped) -> np.ndarray:
    """A view of the volume in RAS voxel order (for choices that depend on the order voxels are met in)."""
    return volume[tuple(slice(None, None, -1) if backwards else slice(None) for backwards in flipped)]


def as_significance(p: np.ndarray, threshold: Threshold | None) -> tuple[np.ndarray, Threshold | None]:
    """A P map as −log10 p, and its threshold on that scale: the strongest voxels get the strongest colour.

    Drawn raw, the most significant voxels (p near 0) were the faintest. Zero, negative, missing and
    p > 1 are "nothing" (0), as they were never shown; the threshold selects exactly the same voxels.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = -np.log10(p)
    significance[~(p > 0)] = 0
    np.maximum(significance, 0, out=significance)
    if threshold is None or not threshold.below:
        return significance, threshold
    level = float(-np.log10(threshold.value)) if threshold.value > 0 else float("inf")
    return significance, Threshold(level, False, f"{threshold.rule} (colours: −log10 p)")


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


def _peak_mm(volume: np.ndarray, affine: np.ndarray, low: float, high: float, flipped, planes) -> np.ndarray:
    """World position of the voxel of largest |value| (the first of ties in RAS C order), the centre for an empty
    map."""
    low, high = (0.0 if not np.isfinite(v) else v for v in (low, high))
    value = high if abs(high) >= abs(low) else low
    if value == 0:
        index = (np.array(volume.shape[:3]) - 1) / 2
    else:
        index = np.array(first_in_ras_order(volume, np.float32(value), flipped, planes[0]), np.float64)
    return affine[:3, :3] @ index + affine[:3, 3]


def shown_mask(values: np.ndarray, threshold: Threshold | None) -> np.ndarray:
    """Suprathreshold pixels; without a threshold, every non-zero value."""
    if threshold is None:
        return np.isfinite(values) & (values != 0)
    return threshold.mask(values)  # never NaN, and infinities were clipped


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
