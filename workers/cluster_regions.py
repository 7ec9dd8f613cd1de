"""Region names for a cluster table: each peak's region and each cluster's share of voxels per region.

Apart from the table's search for clusters and peaks (``workers.clusters``): this is one atlas lookup per
atlas for every peak and every clustered voxel, and the note a page shows when there can be no names.
"""

from __future__ import annotations

import numpy as np

from . import atlases

#: A cluster's regions listed on the page: those holding at least this share of its voxels, at most this many.
MIN_REGION_SHARE = 0.05
MAX_REGIONS = 5


def labelled(rows: list[dict], not_mni: bool) -> dict:
    """Add region names to every peak and each cluster's share of voxels per region; say why when there are none.

    Rows carry their voxels' coordinates (``members``) only until here.
    """
    note = labels_unavailable(not_mni)
    if note is None and rows:
        add_labels(rows)
    for row in rows:
        del row["members"]
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


def add_labels(rows: list[dict]) -> None:
    """One atlas lookup for every peak and one for every clustered voxel, per atlas."""
    points = [point for row in rows for point in (row["peak"], *row["subpeaks"])]
    members = np.concatenate([row["members"] for row in rows])
    owner = np.repeat(np.arange(len(rows)), [len(row["members"]) for row in rows])
    for point in points:
        point["regions"] = {}
    for row in rows:
        row["regions"] = {}
    for atlas in atlases.ATLASES:
        at_points = atlases.labels_at(atlas.key, np.array([point["mm"] for point in points]))
        for point, label in zip(points, at_points, strict=True):
            point["regions"][atlas.key] = atlases.name_of(atlas.key, label)
        shares = region_shares(owner, atlases.labels_at(atlas.key, members), len(rows))
        for row, found in zip(rows, shares, strict=True):
            row["regions"][atlas.key] = [{"name": atlases.name_of(atlas.key, label), "share": share}
                                         for label, share in found]


def region_shares(owner: np.ndarray, labels: np.ndarray, n_rows: int) -> list[list[tuple[int, float]]]:
    """Per cluster, (region label, share of its voxels) for regions with at least MIN_REGION_SHARE, largest first."""
    sizes = np.bincount(owner, minlength=n_rows)
    named = labels > 0
    span = int(labels.max()) + 1 if labels.size else 1
    keys, counts = np.unique(owner[named].astype(np.int64) * span + labels[named], return_counts=True)
    out = [[] for _ in range(n_rows)]
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        row, label = divmod(key, span)
        share = count / sizes[row]
        if share >= MIN_REGION_SHARE:
            out[row].append((label, round(share, 3)))
    return [sorted(found, key=lambda item: -item[1])[:MAX_REGIONS] for found in out]
