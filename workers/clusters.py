"""The cluster table of a statistic map: where its suprathreshold blobs are, how big, how strong, in which regions.

It follows nilearn's ``get_clusters_table`` (``nilearn.reporting``), which
tests compare peak for peak: face-connected clusters (6 neighbours) of the
voxels past the threshold, each tail on its own, ordered by peak; in each
cluster the local maxima (3x3x3 neighbourhood, a plateau counted at its
centre of mass), strongest first, keeping those more than 8 mm from a
stronger one; the first is the peak, up to three more are sub-peaks.

Two things differ, for speed and for the page: local maxima are searched in
each cluster's bounding box, not in a whole-volume copy per cluster (same
result, as the rest of the copy is zeros), and a table lists at most
``MAX_CLUSTERS`` clusters per tail and stops when its time budget is spent,
saying so.

The threshold is ``workers.thresholds.choose``'s, so the slices and the table
show the same voxels. P maps (small is significant) are clustered on 1 - p.
Labels come from ``workers.cluster_regions`` for maps in MNI space only.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
from scipy import ndimage

from . import thresholds
from .cluster_regions import labelled
from .planes import Extremes, shown_along
from .thresholds import Threshold

MAX_CLUSTERS = 50
MAX_SUBPEAKS = 3
MIN_DISTANCE_MM = 8.0
TIME_BUDGET_SECONDS = 20.0
FACES = ndimage.generate_binary_structure(3, 1)


def for_map(data: np.ndarray, affine: np.ndarray, *, map_type: str | None, is_thresholded: bool = False,
            dof=None, not_mni: bool = False, extremes: tuple[float, float] | None = None,
            planes: Extremes | None = None) -> dict:
    """What the worker adds to an image's stats: ``threshold`` (None for masks and the like) and ``clusters``.

    The stored threshold is the one the slices and the glass brain are drawn at. ``extremes`` (the
    smallest and largest finite non-zero value, known from the stats) spare a pass over the map when
    the rule needs no percentile; ``planes`` (its ``planes.plane_extremes``) spare the table one.
    """
    volume = data[..., 0] if data.ndim == 4 else data
    threshold = chosen_threshold(map_type, volume, extremes, is_thresholded=is_thresholded, dof=dof)
    table = cluster_table(volume, affine, threshold, not_mni=not_mni, planes=planes)
    table.pop("threshold")
    return {"threshold": threshold_record(threshold) if threshold else None, "clusters": table}


def chosen_threshold(map_type, volume, extremes, **kwargs) -> Threshold | None:
    """``thresholds.choose`` over the map's values, asked first with its two extremes only.

    Every rule but the percentile one depends only on whether a value is negative, which the extremes
    tell; the percentile rule is then asked again with every value.
    """
    if extremes is not None and None not in extremes:
        threshold = thresholds.choose(map_type, np.array(extremes, dtype=np.float64), **kwargs)
        if threshold is None or "percentile" not in threshold.rule:
            return threshold
    return thresholds.choose(map_type, volume.ravel(order="K"), **kwargs)


def for_processed(data: np.ndarray, affine: np.ndarray, report: dict, numbers: dict, map_type: str | None,
                  planes: Extremes | None = None) -> dict:
    """``for_map`` with what processing already knows: the validation report's degrees of freedom, the stats' flags
    (and the first volume's ``planes`` when the pass made them).

    ``map_type`` is the uploader's; "Other" becomes the type the statistics inferred, as the image will have it.
    """
    if map_type in (None, "Other"):
        map_type = numbers.get("inferred_map_type") or "Other"
    return for_map(data, affine, map_type=map_type, is_thresholded=bool(numbers.get("is_thresholded")),
                   dof=thresholds.dof_from_report(report),
                   not_mni=bool(numbers.get("not_mni")), extremes=(numbers.get("min"), numbers.get("max")),
                   planes=planes)


def threshold_record(threshold: Threshold) -> dict:
    """The threshold as JSON, as the image's stats keep it (``stats["threshold"]``); infinity becomes None."""
    record = asdict(threshold)
    record["value"] = float(threshold.value) if np.isfinite(threshold.value) else None
    return record


def cluster_table(data: np.ndarray, affine: np.ndarray, threshold: Threshold | None, *, not_mni: bool = False,
                  max_clusters: int = MAX_CLUSTERS, time_budget: float = TIME_BUDGET_SECONDS,
                  clock=time.monotonic, planes: Extremes | None = None) -> dict:
    """The table as plain JSON: the threshold, the clusters of each tail, and sentences for what is missing.

    ``data`` may be 4D (the first volume is used). ``threshold`` None (masks,
    parcellations, anatomy) gives no table and says why. ``planes`` (the volume's
    ``planes.plane_extremes``) give the box of suprathreshold voxels without a mask of the whole volume.
    """
    if threshold is None:
        return {"threshold": None, "clusters": [], "message": "Masks, parcellations and anatomical images "
                "are not clustered."}
    deadline = clock() + time_budget
    volume = np.asarray(data[..., 0] if data.ndim == 4 else data, dtype=np.float32)
    affine = np.asarray(affine, dtype=np.float64)
    voxel_mm3 = round(float(abs(np.linalg.det(affine[:3, :3]))), 6)
    box, suprathreshold = suprathreshold_box(volume, threshold, planes)
    origin = np.array([s.start for s in box])
    rows, found, timed_out = [], 0, False
    all_finite = planes is not None and planes.all_finite and planes[0][0].dtype == volume.dtype
    for sign, score in tail_scores(volume[box], suprathreshold, threshold, all_finite):
        tail_rows, tail_found, tail_timed_out = tail_clusters(score, origin, affine, voxel_mm3, max_clusters,
                                                              deadline, clock)
        for row in tail_rows:
            row["sign"] = "+" if sign > 0 else "-"
            for point in (row["peak"], *row["subpeaks"]):
                point["value"] = float(volume[tuple(point["voxel"])])
        rows += tail_rows
        found += tail_found
        timed_out |= tail_timed_out
    for number, row in enumerate(rows, start=1):
        row["id"] = number
    table = {"threshold": threshold_record(threshold), "clusters": rows, "n_found": found,
             "truncated": len(rows) < found, "message": table_message(rows, found, timed_out, max_clusters)}
    table.update(labelled(rows, not_mni))
    return table


def table_message(rows: list, found: int, timed_out: bool, max_clusters: int) -> str | None:
    if not found:
        return "No voxel is above the threshold: the table is empty."
    if timed_out:
        return f"Only the first {len(rows)} of {found} clusters are listed: the table took too long to make."
    if len(rows) < found:
        return f"The {len(rows)} strongest of {found} clusters are listed (at most {max_clusters} per sign)."
    return None


def tail_scores(volume: np.ndarray, suprathreshold: np.ndarray, threshold: Threshold, all_finite: bool = False):
    """(sign, score) per tail: score is positive inside the tail's suprathreshold voxels and 0 elsewhere.

    Higher scores are stronger: the value for the positive tail, minus it for
    the negative one, 1 - p for P maps. ``all_finite``: the float32 volume is
    known to hold no NaN or infinity (``planes.Extremes``), so it is not copied
    to set them to 0.
    """
    finite = volume if all_finite else np.where(np.isfinite(volume), volume, 0).astype(np.float32)
    if threshold.below:
        yield 1, np.where(suprathreshold, 1.0 - finite, 0).astype(np.float32)
        return
    yield 1, np.where(suprathreshold & (finite > 0), finite, np.float32(0))
    if threshold.two_sided or threshold.nonzero:
        negative = suprathreshold & (finite < 0)
        if negative.any():
            yield -1, np.where(negative, -finite, np.float32(0))


def tail_clusters(score, origin, affine, voxel_mm3, max_clusters, deadline, clock
                  ) -> tuple[list[dict], int, bool]:
    """The clusters of one tail, strongest peak first: (rows, how many clusters there are, whether time ran out).

    ``score`` is a box of the map whose first voxel is ``origin`` in the map. Each row carries
    ``members``, its voxels' MNI coordinates, until ``labelled`` has used them.
    """
    crop = occupied_box(score > 0)
    if crop is None:
        return [], 0, False
    offset = np.array([s.start for s in crop]) + origin
    labels, n = ndimage.label(score[crop] > 0, structure=FACES)
    voxels = np.argwhere(labels)
    which = labels[tuple(voxels.T)]
    members = np.argsort(which, kind="stable")
    starts = np.searchsorted(which[members], np.arange(1, n + 2))
    strongest, sizes = peaks_and_sizes(score[crop][tuple(voxels.T)][members], starts)
    maxima = TailMaxima(score[crop], labels, voxels, which)
    voxels += offset
    voxels, voxels_mm = voxels[members], voxels[members] @ affine[:3, :3].T + affine[:3, 3]
    rows = []
    for number in (-strongest).argsort(kind="stable")[:max_clusters]:
        if clock() > deadline:
            return rows, n, True
        label = int(number + 1)
        part = slice(starts[number], starts[number + 1])
        if sizes[label] == 1:  # a lone voxel is its own peak (its neighbours count as 0): most clusters of noise
            peaks = points_of(voxels[part], affine)
        else:
            ijk, values = maxima.of(label, offset)
            peaks = peaks_of(ijk, values, voxels[part], lambda at: score[tuple((at - origin).T)], affine)
        rows.append({
            "id": len(rows) + 1,
            "size_voxels": int(sizes[label]),
            "size_mm3": round(float(sizes[label] * voxel_mm3), 3),
            **peaks,
            "members": voxels_mm[part],
        })
    return rows, n, False


def suprathreshold_box(volume: np.ndarray, threshold: Threshold, planes: Extremes | None
                       ) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """``occupied_box`` of the suprathreshold voxels, and their mask in it.

    With each plane's extremes at hand (and a threshold on values, |v| >= t or v >= t, which a plane's
    highest or lowest passes when any of its voxels does), the box comes from them and only the box is
    masked: the blobs of a statistic map are a tenth of the grid.
    """
    if planes is None or threshold.below or threshold.nonzero or planes[0][0].dtype != volume.dtype:
        suprathreshold = threshold.mask(volume)
        box = occupied_box(suprathreshold) or (slice(0, 0),) * 3
        return box, suprathreshold[box]
    box = []
    for along, n in zip(shown_along(planes, threshold.mask), volume.shape, strict=True):
        found = np.flatnonzero(along)
        if not found.size:
            return (slice(0, 0),) * 3, np.zeros((0, 0, 0), bool)
        box.append(slice(max(int(found[0]) - 1, 0), min(int(found[-1]) + 2, n)))
    box = tuple(box)
    return box, threshold.mask(volume[box])


def occupied_box(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The smallest box holding every True voxel, one voxel wider where the volume allows; None when empty.

    Clusters are found in it: statistic maps' blobs are small, and labelling the whole grid costs more.
    Two passes over the mask: its projection along the last axis gives the first two axes' extents.
    """
    if not mask.size:
        return None
    flat = mask.any(axis=2)
    found_along = (flat.any(axis=1), flat.any(axis=0), mask.any(axis=(0, 1)))
    box = []
    for axis, found in enumerate(found_along):
        found = np.flatnonzero(found)
        if not found.size:
            return None
        box.append(slice(max(int(found[0]) - 1, 0), min(int(found[-1]) + 2, mask.shape[axis])))
    return tuple(box)


def peaks_and_sizes(grouped: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's highest score (index 0 is cluster 1) and voxel count (index k is cluster k).

    From the clustered voxels' scores grouped by cluster (cluster k from ``starts[k - 1]``), one reduction
    per group: ``ndimage.maximum`` sorts the whole volume.
    """
    if grouped.size == 0:
        return np.zeros(0), np.zeros(1, np.int64)
    return np.maximum.reduceat(grouped, starts[:-1]).astype(np.float64), np.diff(starts, prepend=0)


NEIGHBOURS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])


class TailMaxima:
    """nilearn's local maxima of every cluster of a tail at once, from each clustered voxel's 3x3x3 neighbours.

    nilearn looks for them in each cluster alone, the rest of the map zeroed:
    here a neighbour from another cluster (clusters are face-connected, so they
    can touch diagonally) counts as zero, which is the same. Borders are
    mirrored, as ``ndimage.maximum_filter``'s default mode does.
    """

    def __init__(self, score, labels, voxels, which):
        shape = np.array(score.shape)
        steps = np.array([shape[1] * shape[2], shape[2], 1])
        flat_score = np.ascontiguousarray(score).ravel()
        flat_labels = np.ascontiguousarray(labels).ravel()
        inside = voxels.min() > 0 and bool(np.all(voxels.max(axis=0) < shape - 1))
        here = voxels @ steps
        values = flat_score[here]
        top, low = values.copy(), values.copy()
        for step, neighbour in zip(NEIGHBOURS @ steps, NEIGHBOURS, strict=True):
            if inside:
                near = here + step
            else:  # clipping a neighbour one voxel past the border onto it is what mirroring does
                near = np.clip(voxels + neighbour, 0, shape - 1) @ steps
            around = np.where(flat_labels[near] == which, flat_score[near], 0)
            np.maximum(top, around, out=top)
            np.minimum(low, around, out=low)
        is_max = (values >= top) & (top > low)
        self.ijk, self.values, self.which = voxels[is_max], values[is_max], which[is_max]
        order = np.argsort(self.which, kind="stable")
        self.ijk, self.values, self.which = self.ijk[order], self.values[order], self.which[order]
        self.starts = np.searchsorted(self.which, np.arange(1, int(which.max()) + 2))

    def of(self, label: int, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cluster's maxima (voxel indices in the map, values), plateaus merged at their centre of mass."""
        part = slice(self.starts[label - 1], self.starts[label])
        return merged_plateaus(self.ijk[part] + offset, self.values[part])


def merged_plateaus(ijk: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face-touching maxima are one plateau, placed at its rounded (value-weighted) centre of mass, as nilearn
    does; NaN when that falls outside the plateau (a ring). Maxima are usually isolated voxels, so the
    labelling runs only when two touch.
    """
    if len(ijk) < 2 or not touching(ijk):
        return ijk, values.astype(np.float64)
    origin = ijk.min(axis=0) - 1
    grid = np.zeros(ijk.max(axis=0) - origin + 2, dtype=np.float32)
    grid[tuple((ijk - origin).T)] = values
    plateaus, n = ndimage.label(grid > 0)
    # Rounded in the map's own coordinates: numpy rounds halves to even, so the offset matters.
    found = np.round(centres_of_mass(grid, plateaus, n) + origin).astype(np.int64) - origin
    values = grid[tuple(found.T)].astype(np.float64)
    values[plateaus[tuple(found.T)] == 0] = np.nan
    return found + origin, values


def touching(ijk: np.ndarray) -> bool:
    keys = set(map(tuple, ijk.tolist()))
    return any((i + di, j + dj, k + dk) in keys for i, j, k in keys
               for di, dj, dk in ((1, 0, 0), (0, 1, 0), (0, 0, 1)))


def centres_of_mass(weights: np.ndarray, plateaus: np.ndarray, n: int) -> np.ndarray:
    """``ndimage.center_of_mass`` of each labelled plateau (n x 3), from its voxels alone."""
    voxels = np.argwhere(plateaus)
    which = plateaus[tuple(voxels.T)]
    mass = weights[tuple(voxels.T)].astype(np.float64)
    total = np.bincount(which, weights=mass, minlength=n + 1)[1:]
    return np.stack([np.bincount(which, weights=mass * voxels[:, a], minlength=n + 1)[1:] / total
                     for a in range(3)], axis=1)


def peaks_of(ijk, values, cluster_voxels, score_at, affine) -> dict:
    """The peak and sub-peaks: strongest first, each more than 8 mm from a kept stronger one (nilearn's paring).

    A cluster whose maxima all fall outside it (a flat ring) gets its first strongest voxel as its peak.
    """
    if len(values) > 1:
        order = (-values).argsort(kind="stable")
        ijk, values = ijk[order], values[order]
        ijk = ijk[pare(ijk @ affine[:3, :3].T + affine[:3, 3]) & np.isfinite(values)]
    elif len(values) and not np.isfinite(values[0]):
        ijk = ijk[:0]
    if not len(ijk):
        ijk = cluster_voxels[[int(np.argmax(score_at(cluster_voxels)))]]
    return points_of(ijk[:1 + MAX_SUBPEAKS], affine)


def points_of(ijk: np.ndarray, affine: np.ndarray) -> dict:
    """The peak (the first voxel) and sub-peaks (the others) as the table lists them: voxel and mm."""
    points = [{"voxel": voxel, "mm": mm}
              for voxel, mm in zip(ijk.tolist(), (ijk @ affine[:3, :3].T + affine[:3, 3]).tolist(), strict=True)]
    return {"peak": points[0], "subpeaks": points[1:]}


def pare(xyz: np.ndarray, wanted: int = 1 + MAX_SUBPEAKS) -> np.ndarray:
    """nilearn's ``_pare_subpeaks``, quirk included, stopping once ``wanted`` peaks are kept.

    nilearn lets each kept peak decide anew whether every weaker one stays, so
    a peak's fate is decided by the last kept peak before it: one pass, not
    one per peak (a big cluster of a noisy map has thousands of maxima).
    """
    keep = np.zeros(len(xyz), dtype=bool)
    if not len(xyz):
        return keep
    keep[0], last, kept = True, xyz[0], 1
    limit = MIN_DISTANCE_MM ** 2
    for j in range(1, len(xyz)):
        if kept == wanted:
            break
        if ((xyz[j] - last) ** 2).sum() > limit:
            keep[j], last, kept = True, xyz[j], kept + 1
    return keep
