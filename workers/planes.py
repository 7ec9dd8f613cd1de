"""Each plane's highest and lowest value along each axis of a volume: where a map's values are, without a mask.

Four reductions over a volume answer several questions the processing of a
map asks: its range, which plane holds its peak (so the peak is looked for
in that plane only), which planes hold a suprathreshold voxel (the box the
cluster table labels, the glass brain's box, the mosaic's extent). The first
volume of an upload gets them once (``workers.series``) and hands them to the
statistics, the cluster table and the pictures.
"""

from __future__ import annotations

import numpy as np


class Extremes(list):
    """Per voxel axis, each plane's (highest, lowest) value, as a list of three pairs of arrays.

    ``all_finite`` says whether every voxel is finite (no NaN, no infinity), which the same reductions tell:
    then ``stats.classify`` needs no pass of its own to find out.
    """

    all_finite: bool = False


def plane_extremes(volume: np.ndarray) -> Extremes:
    """Per voxel axis, each plane's (highest, lowest) value, NaN ignored (NaN for a plane of NaN).

    Four reductions over the volume (two through a 2D projection). The first two let NaN through
    (``np.maximum``), so a NaN anywhere shows in their 2D result; only then are they made again ignoring
    NaN (``np.fmax``).
    """
    if not volume.size:
        planes = Extremes((np.zeros(n, volume.dtype), np.zeros(n, volume.dtype)) for n in volume.shape)
        planes.all_finite = True
        return planes
    with np.errstate(invalid="ignore"):
        highest, lowest = np.maximum.reduce(volume, axis=2), np.minimum.reduce(volume, axis=2)
        holds_nan = bool(np.isnan(highest).any()) if volume.dtype.kind == "f" else False
        top, bottom = (np.fmax, np.fmin) if holds_nan else (np.maximum, np.minimum)
        if holds_nan:
            highest, lowest = top.reduce(volume, axis=2), bottom.reduce(volume, axis=2)
        planes = Extremes([(top.reduce(highest, axis=1), bottom.reduce(lowest, axis=1)),
                           (top.reduce(highest, axis=0), bottom.reduce(lowest, axis=0)),
                           (top.reduce(volume, axis=(0, 1)), bottom.reduce(volume, axis=(0, 1)))])
    planes.all_finite = not holds_nan and bool(np.all(np.isfinite(extremes_of(planes))))
    return planes


def extremes_of(planes: Extremes) -> tuple[float, float]:
    """The volume's lowest and highest values from its ``plane_extremes`` (NaN for an all-NaN map, 0 for an empty
    one), without another pass over it."""
    highest, lowest = planes[2]
    if not highest.size:
        return 0.0, 0.0
    return float(np.fmin.reduce(lowest)), float(np.fmax.reduce(highest))


def reordered(planes: Extremes, order) -> Extremes:
    """The extremes of ``np.transpose(volume, order)``."""
    out = Extremes(planes[int(a)] for a in order)
    out.all_finite = planes.all_finite
    return out


def first_in_ras_order(volume: np.ndarray, value, flipped=(False, False, False), first_axis_extremes=None
                       ) -> list[int]:
    """Index (in the volume's own order) of the voxel equal to ``value`` met first in C order once the flipped
    axes are reversed, found without a reversed copy.

    ``first_axis_extremes`` (each plane's highest and lowest along the first axis) say which planes hold the
    value: only the first of them in that order is searched, a hundredth of the volume instead of all of it.
    """
    if first_axis_extremes is not None:
        highest, lowest = first_axis_extremes
        holding = np.flatnonzero((highest == value) | (lowest == value))
        if holding.size:
            x = int(holding[-1] if flipped[0] else holding[0])
            return [x] + first_in_ras_order(volume[x][..., None], value, (*flipped[1:], False))[:2]
    flat, order = flat_view(volume)
    index = np.unravel_index(np.flatnonzero(flat == value), volume.shape, order=order)
    in_ras = [n - 1 - i if backwards else i for i, n, backwards in zip(index, volume.shape, flipped, strict=True)]
    first = int(np.argmin(np.ravel_multi_index(in_ras, volume.shape))) if index[0].size > 1 else 0
    return [int(axis[first]) for axis in index]


def shown_along(planes: Extremes, shown) -> list[np.ndarray]:
    """Per axis, which planes hold a voxel ``shown`` (a threshold's mask) marks, for a mask that marks a value
    above or below thresholds (|v| >= t, v >= t): then a plane holds one exactly when its highest or lowest is."""
    return [shown(highest) | shown(lowest) for highest, lowest in planes]


def flat_view(array: np.ndarray) -> tuple[np.ndarray, str]:
    """The array flattened without a copy when it is C- or Fortran-contiguous, and the order used."""
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        return array.ravel(order="F"), "F"
    return array.ravel(order="C"), "C"
