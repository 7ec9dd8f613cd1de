"""Slices drawn on demand for embedding: ``/images/<id>/slices.png?axis=z&mm=12&threshold=3&cmap=hot``.

The web tier draws them from the stored file (a 2 mm map: tens of
milliseconds, no queue round trip) and keeps each picture as an artifact
whose kind is a hash of its canonical parameters, so the same URL is drawn
once. Parameters are few and bounded; anything else is a 400 naming the
parameter and the value. Reprocessing an image drops its artifacts, so the
kept pictures never outlive the statistics they were drawn with.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from flask import abort, current_app
from sqlalchemy.exc import IntegrityError

from workers import nifti, slices

from ..extensions import db, get_storage
from ..models import Artifact
from ..storage import artifact_key

PARAMETERS = ("axis", "mm", "threshold", "cmap", "cut_coords")
AXES = {"x": 0, "y": 1, "z": 2}
MAX_MM = 500.0
MAX_THRESHOLD = 1e30
KIND_PREFIX = "slices_"


@dataclass(frozen=True)
class SliceRequest:
    """What a slices URL asks for, checked; ``key`` is the same for every spelling of the same picture."""

    axis: str = "z"
    mm: float | None = None
    threshold: float | None = None
    cmap: str = "cold_hot"
    cut_coords: tuple[float, ...] | None = None

    @property
    def key(self) -> str:
        cuts = ",".join(f"{c:g}" for c in self.cut_coords) if self.cut_coords else ""
        mm = "" if self.mm is None else f"{self.mm:g}"
        threshold = "" if self.threshold is None else f"{self.threshold:g}"
        return f"axis={self.axis}&mm={mm}&threshold={threshold}&cmap={self.cmap}&cut_coords={cuts}"

    @property
    def kind(self) -> str:
        return KIND_PREFIX + hashlib.sha256(self.key.encode()).hexdigest()[:24]


def bad(reason: str):
    abort(400, description=reason)


def parse(args) -> SliceRequest:
    """The request's parameters, or a 400 saying which one is wrong and why."""
    for name in args:
        if name not in PARAMETERS:
            bad(f"Unknown parameter {name!r}; accepted: {', '.join(PARAMETERS)}.")
        if len(args.getlist(name)) > 1:
            bad(f"Parameter {name!r} is given more than once.")
    axis = args.get("axis", "z")
    if axis not in AXES:
        bad(f"axis={axis!r} is not one of x, y, z.")
    cmap = args.get("cmap", "cold_hot")
    if cmap not in slices.COLOUR_MAPS:
        bad(f"cmap={cmap!r} is not one of {', '.join(slices.COLOUR_MAPS)}.")
    mm = number(args, "mm", -MAX_MM, MAX_MM)
    threshold = number(args, "threshold", 0.0, MAX_THRESHOLD)
    cuts = cut_coords(args.get("cut_coords"))
    if cuts is not None and mm is not None:
        bad("Give mm (one slice) or cut_coords (a mosaic), not both.")
    return SliceRequest(axis, mm, threshold, cmap, cuts)


def number(args, name: str, low: float, high: float) -> float | None:
    text = args.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        bad(f"{name}={text!r} is not a number.")
    if not math.isfinite(value) or not low <= value <= high:
        bad(f"{name}={text!r} is outside {low:g} to {high:g}.")
    return value


def cut_coords(text: str | None) -> tuple[float, ...] | None:
    if text is None or text == "":
        return None
    parts = text.split(",")
    if len(parts) > slices.MAX_CUTS:
        bad(f"cut_coords has {len(parts)} values; at most {slices.MAX_CUTS}.")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            bad(f"cut_coords value {part!r} is not a number.")
        if not math.isfinite(value) or abs(value) > MAX_MM:
            bad(f"cut_coords value {part!r} is outside -{MAX_MM:g} to {MAX_MM:g}.")
        values.append(value)
    return tuple(values)


def kept(image, asked: SliceRequest) -> Artifact | None:
    return db.session.scalar(sa.select(Artifact).where(Artifact.image_id == image.id, Artifact.kind == asked.kind))


@dataclass(frozen=True)
class LoadedMap:
    """What drawing needs of a stored map: its first volume, its affine, its validation report."""

    volume: np.ndarray
    affine: np.ndarray
    report: dict

    @property
    def nbytes(self) -> int:
        return self.volume.nbytes


class LoadedMaps:
    """The maps this web process loaded last, up to a byte budget (``SLICES_CACHE_BYTES``).

    A visitor moving through one map asks for many slices of it: only the first is read from
    storage. Keyed by storage key: the bytes under a key never change (a new upload is a new key).
    """

    def __init__(self):
        self._maps: OrderedDict[str, LoadedMap] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> LoadedMap | None:
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
            return found

    def put(self, key: str, loaded: LoadedMap, budget: int) -> None:
        if loaded.nbytes > budget:
            return
        with self._lock:
            self._maps[key] = loaded
            while sum(m.nbytes for m in self._maps.values()) > budget:
                self._maps.popitem(last=False)


LOADED = LoadedMaps()


def loaded_map(image) -> LoadedMap:
    """The map's first volume, from this process's cache or read from storage.

    Only the first volume is read (a series' other volumes are never inflated), bounded by
    ``SLICES_MAX_ARRAY_BYTES``; the validation report is the one the worker stored.
    """
    config = current_app.config
    found = LOADED.get(image.storage_key)
    if found is not None:
        return found
    try:
        with get_storage().local_path(image.storage_key) as path, nifti.open_series(
                path, max_decompressed_bytes=config["MAX_DECOMPRESSED_BYTES"],
                max_array_bytes=config["SLICES_MAX_ARRAY_BYTES"]) as series:
            affine = np.asarray(series.affine, np.float64)
            volume = next(iter(series.volumes()))
    except nifti.InvalidNifti as exc:
        bad(f"This map cannot be drawn on demand: {exc}")
    volume.setflags(write=False)  # shared by the process's threads
    loaded = LoadedMap(volume, affine, image.report or {})
    LOADED.put(image.storage_key, loaded, config["SLICES_CACHE_BYTES"])
    return loaded


def draw(image, asked: SliceRequest) -> bytes:
    """The picture, from the stored file, with the threshold and anatomy the thumbnails use."""
    loaded = loaded_map(image)
    numbers = image.stats.data if image.stats else {}
    map_type = slices.shown_type(image.map_type, numbers)
    try:
        return slices.on_demand(
            loaded.volume, loaded.affine, axis=AXES[asked.axis], mm=asked.mm,
            cut_coords=asked.cut_coords, threshold_value=asked.threshold,
            default_threshold=slices.threshold_for(map_type, loaded.volume, numbers, loaded.report),
            colour_map=asked.cmap, map_type=map_type, mni=not image.not_mni)
    except ValueError as exc:
        bad(str(exc))


def picture(image, asked: SliceRequest) -> tuple[str | bytes, bool]:
    """(storage key of the kept picture, or the PNG itself when no more are kept; whether it was kept before)."""
    artifact = kept(image, asked)
    if artifact is not None:
        return artifact.storage_key, True
    png = draw(image, asked)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Artifact).where(
        Artifact.image_id == image.id, Artifact.kind.startswith(KIND_PREFIX)))
    if count >= current_app.config["SLICES_KEPT_PER_IMAGE"]:
        return png, False
    stored = get_storage().put_bytes(artifact_key(image.id, asked.kind), png)
    width, height = slices.png_size(png)
    db.session.add(Artifact(image_id=image.id, kind=asked.kind, storage_key=stored.key, width=width,
                            height=height, size=stored.size))
    try:
        db.session.commit()
    except IntegrityError:  # the same picture was kept by a concurrent request: same key, same bytes
        db.session.rollback()
    return stored.key, False
