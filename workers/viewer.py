"""What the browser's viewer loads, within a byte budget, so a page never downloads a large file.

NiiVue loads whole files (its ``limitFrames4D`` still downloads the whole
series to show its first frames), so the worker prepares what it may load:

* a file whose data fit the budget is loaded as it is;
* a series whose single volume fits gets a copy of its first volumes (as many
  as fit), cut from the original's stored bytes. Volume *k* is served as a 3D
  header followed by its bytes: read at their offset in an uncompressed file,
  or inflated from the nearest access point of an index of a gzip file
  (``gzindex``, built in the same inflate pass, ``by_points``; decision 0027).
  Without zlib-ng, a gzip file gets every volume as a gzip member of its own
  in one ``volumes`` file with an index of offsets (the web tier serves member
  *k*, a complete little ``.nii.gz``). Either way nothing else is read;
* anything larger (a volume over the budget) gets a compact copy of its first
  volume: int16 with a scale factor, downsampled by the smallest whole step
  that fits.

Sizes are counted uncompressed: that is what the browser holds in memory; the
bytes on the wire are fewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

from . import zinflate
from .copies import StreamingMember, gzip_member

DEFAULT_BUDGET_BYTES = 64 * 2**20
HEADER_BYTES = 544  # the largest single-file header with its extension flag (NIfTI-2)


@dataclass(frozen=True)
class Plan:
    """How the viewer gets this file: ``mode`` is "as_is", "frames" (the first ``frames`` volumes, stored
    bytes) or "compact" (the first volume in int16, every ``step``-th voxel); ``on_demand`` when further
    volumes are served one by one: ``by_offset`` in an uncompressed file, ``by_points`` from an index of
    a gzip file, else as gzip members."""

    mode: str
    frames: int
    step: int
    on_demand: bool
    by_offset: bool = False
    by_points: bool = False

    def to_dict(self) -> dict:
        return {"mode": self.mode, "frames": self.frames, "step": self.step, "on_demand": self.on_demand,
                "by_offset": self.by_offset, "by_points": self.by_points}


def plan(volume_shape, n_volumes: int, volume_bytes: int, budget: int = DEFAULT_BUDGET_BYTES, *,
         compressed: bool = True) -> Plan:
    """The cheapest way to show the file within ``budget`` bytes.

    Volumes of an uncompressed file are served ``by_offset`` (a header, then a byte range of
    the original); those of a gzip file ``by_points`` (inflated from an access point), or from
    per-volume members when zlib-ng is missing.
    """
    if HEADER_BYTES + n_volumes * volume_bytes <= budget:
        return Plan("as_is", n_volumes, 1, False)
    if HEADER_BYTES + volume_bytes <= budget:
        frames = (budget - HEADER_BYTES) // volume_bytes
        on_demand = n_volumes > frames
        return Plan("frames", min(frames, n_volumes), 1, on_demand, on_demand and not compressed,
                    on_demand and compressed and zinflate.available())
    return Plan("compact", 1, compact_step(volume_shape, budget), False)


def compact_step(volume_shape, budget: int) -> int:
    """The smallest downsampling step whose int16 copy fits the budget."""
    step = 1
    while HEADER_BYTES + 2 * math.prod(math.ceil(s / step) for s in volume_shape) > budget:
        step += 1
    return step


def compact_copy(volume: np.ndarray, affine: np.ndarray, step: int) -> bytes:
    """One volume as a gzipped int16 NIfTI (nibabel picks the scale factor), every ``step``-th voxel."""
    small = np.ascontiguousarray(volume[::step, ::step, ::step])
    scaled = np.array(affine, dtype=np.float64)
    scaled[:3, :3] *= step
    scaled[:3, 3] += np.asarray(affine)[:3, :3] @ np.full(3, (step - 1) / 2)
    image = nib.Nifti1Image(np.nan_to_num(small, nan=0.0, posinf=0.0, neginf=0.0), scaled)
    image.set_data_dtype(np.int16)
    return gzip_member(image.to_bytes())


def float_copy(volume: np.ndarray, affine: np.ndarray) -> bytes:
    """A map the worker computed (temporal mean, tSNR) as a gzipped float32 NIfTI."""
    image = nib.Nifti1Image(np.asarray(volume, dtype=np.float32), np.asarray(affine, dtype=np.float64))
    return gzip_member(image.to_bytes())


@dataclass
class Copies:
    """Gathers the viewer's copies from the raw volumes of one streaming pass.

    ``volumes_sink`` (anything with ``write``) receives the on-demand volumes,
    one gzip member each; ``offsets`` is where each starts, plus the end. The
    copy of the first volumes is packed as they arrive (``copies.StreamingMember``).
    """

    plan: Plan
    volume_header: bytes
    series_header: bytes
    volumes_sink: object | None = None
    offsets: list[int] = field(default_factory=lambda: [0])
    _kept: int = 0
    _frames: StreamingMember | None = None

    def add(self, raw: np.ndarray) -> None:
        if self.plan.mode == "frames" and self._kept < self.plan.frames:
            if self._frames is None:
                self._frames = StreamingMember(self.series_header)
            self._frames.add(raw.data)
            self._kept += 1
        if self.plan.on_demand and not (self.plan.by_offset or self.plan.by_points) and self.volumes_sink is not None:
            member = gzip_member(self.volume_header, raw.data)
            self.volumes_sink.write(member)
            self.offsets.append(self.offsets[-1] + len(member))

    def first_volumes(self) -> bytes | None:
        """The copy of the first volumes (gzipped), or None when the viewer needs none of this kind."""
        return self._frames.finish() if self._frames is not None else None

    def index(self) -> bytes:
        """The offsets as little-endian uint64: volume k is bytes [offsets[k], offsets[k + 1])."""
        return np.asarray(self.offsets, dtype="<u8").tobytes()
