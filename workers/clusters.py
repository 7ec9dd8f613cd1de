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
Labels come from ``workers.atlases`` for maps in MNI space only.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
from scipy import ndimage

from . import atlases, thresholds
from .thresholds import Threshold

MAX_CLUSTERS = 50
MAX_SUBPEAKS = 3
MIN_DISTANCE_MM = 8.0
TIME_BUDGET_SECONDS = 20.0
#: A cluster's regions listed on the page: those holding at least this share of its voxels, at most this many.
MIN_REGION_SHARE = 0.05
MAX_REGIONS = 5
FACES = ndimage.generate_binary_structure(3, 1)


def for_map(data: np.ndarray, affine: np.ndarray, *, map_type: str | None, is_thresholded: bool = False,
            dof=None, not_mni: bool = False) -> dict:
    """What the worker adds to an image's stats: ``threshold`` (None for masks and the like) and ``clusters``.

    The stored threshold is the one the slices and the glass brain are drawn at.
    """
    volume = data[..., 0] if data.ndim == 4 else data
    threshold = thresholds.choose(map_type, volume, is_thresholded=is_thresholded, dof=dof)
    table = cluster_table(volume, affine, threshold, not_mni=not_mni)
    table.pop("threshold")
    return {"threshold": threshold_record(threshold) if threshold else None, "clusters": table}


def threshold_record(threshold: Threshold) -> dict:
    """The threshold as JSON, as the image's stats keep it (``stats["threshold"]``); infinity becomes None."""
    record = asdict(threshold)
    record["value"] = float(threshold.value) if np.isfinite(threshold.value) else None
    return record


def cluster_table(data: np.ndarray, affine: np.ndarray, threshold: Threshold | None, *, not_mni: bool = False,
                  max_clusters: int = MAX_CLUSTERS, time_budget: float = TIME_BUDGET_SECONDS,
                  clock=time.monotonic) -> dict:
    """The table as plain JSON: the threshold, the clusters of each tail, and sentences for what is missing.

    ``data`` may be 4D (the first volume is used). ``threshold`` None (masks,
    parcellations, anatomy) gives no table and says why.
    """
    if threshold is None:
        return {"threshold": None, "clusters": [], "message": "Masks, parcellations and anatomical images "
                "are not clustered."}
    deadline = clock() + time_budget
    volume = np.asarray(data[..., 0] if data.ndim == 4 else data, dtype=np.float32)
    affine = np.asarray(affine, dtype=np.float64)
    voxel_mm3 = round(float(abs(np.linalg.det(affine[:3, :3]))), 6)
    suprathreshold = threshold.mask(volume)
    rows, found, timed_out = [], 0, False
    for sign, score in tail_scores(volume, suprathreshold, threshold):
        tail_rows, tail_found, tail_timed_out = tail_clusters(score, affine, voxel_mm3, max_clusters, deadline, clock)
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
    table.update(labelled(rows, affine, volume.shape, not_mni))
    return table


def table_message(rows: list, found: int, timed_out: bool, max_clusters: int) -> str | None:
    if not found:
        return "No voxel is above the threshold: the table is empty."
    if timed_out:
        return f"Only the first {len(rows)} of {found} clusters are listed: the table took too long to make."
    if len(rows) < found:
        return f"The {len(rows)} strongest of {found} clusters are listed (at most {max_clusters} per sign)."
    return None


def tail_scores(volume: np.ndarray, suprathreshold: np.ndarray, threshold: Threshold):
    """(sign, score) per tail: score is positive inside the tail's suprathreshold voxels and 0 elsewhere.

    Higher scores are stronger: the value for the positive tail, minus it for
    the negative one, 1 - p for P maps.
    """
    finite = np.where(np.isfinite(volume), volume, 0).astype(np.float32)
    if threshold.below:
        yield 1, np.where(suprathreshold, 1.0 - finite, 0).astype(np.float32)
        return
    yield 1, np.where(suprathreshold & (finite > 0), finite, 0).astype(np.float32)
    if threshold.two_sided or threshold.nonzero:
        negative = suprathreshold & (finite < 0)
        if negative.any():
            yield -1, np.where(negative, -finite, 0).astype(np.float32)


def tail_clusters(score, affine, voxel_mm3, max_clusters, deadline, clock) -> tuple[list[dict], int, bool]:
    """The clusters of one tail, strongest peak first: (rows, how many clusters there are, whether time ran out)."""
    labels, n = ndimage.label(score > 0, structure=FACES)
    if n == 0:
        return [], 0, False
    index = np.arange(1, n + 1)
    strongest = np.asarray(ndimage.maximum(score, labels, index))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    boxes = ndimage.find_objects(labels)
    rows = []
    for number in (-strongest).argsort(kind="stable")[:max_clusters]:
        if clock() > deadline:
            return rows, n, True
        peaks = cluster_peaks(score, labels, number + 1, boxes[number], affine)
        if not peaks:
            continue
        rows.append({
            "id": len(rows) + 1,
            "size_voxels": int(sizes[number + 1]),
            "size_mm3": round(float(sizes[number + 1] * voxel_mm3), 3),
            "peak": peaks[0],
            "subpeaks": peaks[1:1 + MAX_SUBPEAKS],
            "voxels_mm": cluster_voxels_mm(labels, number + 1, boxes[number], affine),
        })
    return rows, n, False


def cluster_voxels_mm(labels, label, box, affine) -> np.ndarray:
    """MNI coordinates of every voxel of a cluster (n x 3), for its share of each atlas region."""
    ijk = np.argwhere(labels[box] == label) + np.array([s.start for s in box])
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def cluster_peaks(score, labels, label, box, affine) -> list[dict]:
    """Local maxima of one cluster, strongest first, each more than MIN_DISTANCE_MM from a stronger one kept."""
    lows = [max(s.start - 2, 0) for s in box]
    highs = [min(s.stop + 2, n) for s, n in zip(box, score.shape, strict=True)]
    window = tuple(slice(lo, hi) for lo, hi in zip(lows, highs, strict=True))
    masked = np.where(labels[window] == label, score[window], 0).astype(np.float32)
    ijk, values = local_maxima(masked)
    ijk += np.array(lows)
    order = (-values).argsort(kind="stable")
    ijk, values = ijk[order], values[order]
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    keep = pare(xyz)
    return [{"voxel": [int(c) for c in ijk[i]], "mm": [float(c) for c in xyz[i]]}
            for i in np.flatnonzero(keep) if np.isfinite(values[i])]


def local_maxima(masked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nilearn's ``_identify_subpeaks``: voxels equal to their 3x3x3 maximum, not flat; plateaus at their centre.

    A plateau whose rounded centre of mass falls outside it (a ring) gets NaN.
    """
    highest = ndimage.maximum_filter(masked, 3)
    maxima = (masked == highest) & ((highest - ndimage.minimum_filter(masked, 3)) > 0)
    plateaus, n = ndimage.label(maxima)
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0)
    centres = np.array(ndimage.center_of_mass(masked, plateaus, np.arange(1, n + 1)))
    ijk = np.round(centres).astype(np.int64)
    values = masked[ijk[:, 0], ijk[:, 1], ijk[:, 2]].astype(np.float64)
    values[plateaus[ijk[:, 0], ijk[:, 1], ijk[:, 2]] == 0] = np.nan
    return ijk, values


def pare(xyz: np.ndarray) -> np.ndarray:
    """nilearn's ``_pare_subpeaks``, quirk included: each kept peak decides anew whether every weaker one stays."""
    keep = np.ones(len(xyz), dtype=bool)
    for i in range(len(xyz)):
        if keep[i]:
            keep[i + 1:] = np.sqrt(((xyz[i + 1:] - xyz[i]) ** 2).sum(axis=1)) > MIN_DISTANCE_MM
    return keep


def labelled(rows: list[dict], affine: np.ndarray, shape, not_mni: bool) -> dict:
    """Add region names to every peak and each cluster's share of voxels per region; say why when there are none.

    Rows carry their voxels' coordinates (``voxels_mm``) only until here.
    """
    note = labels_unavailable(not_mni)
    if note is None and rows:
        add_labels(rows, affine)
    for row in rows:
        del row["voxels_mm"]
    if note:
        return {"atlases": [], "labels_note": note}
    return {"atlases": [{"key": a.key, "title": a.title, "citation": a.citation} for a in atlases.ATLASES],
            "labels_note": None}


def labels_unavailable(not_mni: bool) -> str | None:
    if not_mni:
        return "No region names: the map does not look like it is in MNI space (it covers the MNI brain poorly)."
    try:
        for atlas in atlases.ATLASES:
            atlases.load(atlas.key)
    except atlases.AtlasesUnavailable as exc:
        return f"No region names: {exc}."
    return None


def add_labels(rows: list[dict], affine: np.ndarray) -> None:
    for row in rows:
        for point in (row["peak"], *row["subpeaks"]):
            point["regions"] = point_regions(np.array([point["mm"]]))
        row["regions"] = cluster_regions(row["voxels_mm"])


def point_regions(points_mm: np.ndarray) -> dict[str, str | None]:
    return {a.key: atlases.name_of(a.key, atlases.labels_at(a.key, points_mm)[0]) for a in atlases.ATLASES}


def cluster_regions(points_mm: np.ndarray) -> dict[str, list[dict]]:
    """Per atlas, the regions holding at least MIN_REGION_SHARE of the cluster's voxels, largest share first."""
    out = {}
    for atlas in atlases.ATLASES:
        found = atlases.labels_at(atlas.key, points_mm)
        ids, counts = np.unique(found[found > 0], return_counts=True)
        shares = counts / max(len(points_mm), 1)
        order = (-shares).argsort(kind="stable")
        out[atlas.key] = [{"name": atlases.name_of(atlas.key, ids[i]), "share": round(float(shares[i]), 3)}
                          for i in order[:MAX_REGIONS] if shares[i] >= MIN_REGION_SHARE]
    return out
