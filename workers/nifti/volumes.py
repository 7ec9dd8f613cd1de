"""A series read in one pass, volume by volume: memory flat in the number of volumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workers import readahead
from workers.plain import human_bytes

from .checks import STREAM_CHECKS
from .findings import InvalidNifti, Report
from .header import _Header
from .reader import _decode_volume, _guarded, _Opened, _report, _stored_volume


class Series:
    """An opened file whose header passed the checks, read in one pass, volume by volume.

    A gzip stream is inflated once, in bounded pieces, as the volumes are
    taken; an uncompressed file is read at its offsets. Data that stop early
    fail with a reason naming the volume where they ended; a claim that cannot
    fit the decompression cap is settled before any volume is decoded.
    """

    def __init__(self, path, max_decompressed_bytes: int, max_voxels: int, max_array_bytes: int):
        self._ahead: readahead.ReadAhead | None = None
        self._opened = _Opened(path, max_decompressed_bytes, max_voxels)
        try:
            self._check_before_reading(max_array_bytes)
        except BaseException:
            self._opened.close()
            raise
        h = self.header
        self.shape = h.shape
        self.n_volumes = h.n_volumes
        self.affine = h.affine_choice[1]

    @property
    def header(self) -> _Header:
        return self._opened.header

    def _check_before_reading(self, max_array_bytes: int) -> None:
        opened, h = self._opened, self._opened.header
        if not h.compressed:
            h.total_bytes = h.file_bytes  # a plain file's length is known: a short one fails before any work
            opened.run(STREAM_CHECKS, h)
        elif int(h.vox_offset) + h.data_bytes > h.max_decompressed_bytes:
            opened.count_rest()  # can't be satisfied: the stream checks say whether it is a bomb or short
        if h.volume_array_bytes > max_array_bytes:
            raise InvalidNifti("dim", h.dims,
                               f"dim={h.dims}: one volume of {h.volume_voxels:,} voxels of {h.datatype.name} "
                               f"needs {human_bytes(h.volume_array_bytes)} of memory to read, more than the "
                               f"{human_bytes(max_array_bytes)} this site allows",
                               findings=opened.findings)

    @property
    def volume_bytes(self) -> int:
        """Stored bytes of one volume."""
        return self.header.volume_bytes

    def header_bytes(self, frames: int) -> bytes:
        """A single-file header (and empty extension flag) for the first ``frames`` volumes of this file's data.

        The stored bytes of those volumes follow it unchanged to make a valid file (datatype,
        byte order, scaling and orientation are the original's): the viewer's copies are cut
        from the original's bytes, never re-encoded.
        """
        h = self.header
        raw = np.frombuffer(h.raw.tobytes(), dtype=h.raw.dtype).copy()
        raw["dim"][0] = [4 if frames > 1 else 3, *h.shape[:3], max(frames, 1), 1, 1, 1]
        raw["vox_offset"][0] = h.sizeof_hdr + 4
        return raw.tobytes() + b"\0" * 4

    def record_access_points(self, points) -> None:
        """Hand the gzip stream's access points to ``points`` (``gzindex.AccessPoints``) as the volumes are read."""
        if self.header.compressed:
            self._opened.source.record_points(points)

    def volumes(self, raw_sink: Callable[[np.ndarray], None] | None = None, *, stored: bool = False):
        """Each volume as floats, shaped (x, y, z), in order; each array is new (keeping one is safe).

        ``raw_sink`` gets each volume's stored bytes first (a uint8 array it may keep). With
        ``stored``, unscaled integers of at most 16 bits come as those integers: every step that
        measures them is exact on them and reads half the bytes (no float copy of every volume).
        """
        fill = self._volume_filler(raw_sink is not None, stored)
        for t in range(self.n_volumes):
            raw, volume = fill(np.empty(self.volume_bytes, dtype=np.uint8), t)
            if raw_sink is not None:
                raw_sink(raw)
            yield volume

    def volumes_ahead(self, raw_sink: Callable[[np.ndarray], None] | None = None, *, stored: bool = False,
                      depth: int = readahead.DEFAULT_DEPTH, measure: Callable[[np.ndarray, int], Any] | None = None):
        """(volume, ``measure(volume, index)`` or None) for each volume in order, as ``volumes`` gives them, read,
        decoded and measured by a thread up to ``depth`` volumes ahead, in a ring of buffers.

        Each volume (and the stored bytes ``raw_sink`` gets) is valid only until the next one is
        asked for: copy what you keep. Errors of the data (ended early, corrupt) are raised here as
        ``volumes`` raises them; ``finish`` and ``close`` stop the reader first. ``measure`` (pure)
        gives the reader a share of the work when reading is the cheaper side.
        """
        self._stop_reading()
        fill = self._volume_filler(raw_sink is not None, stored)

        def fill_and_measure(buffer: np.ndarray, index: int) -> tuple:
            raw, volume = fill(buffer, index)
            return raw, volume, None if measure is None else measure(volume, index)

        items = self._read_ahead(fill_and_measure, depth)
        if items is None:  # read in this thread, a new buffer each (as ``volumes``)
            items = (fill_and_measure(np.empty(self.volume_bytes, dtype=np.uint8), t) for t in range(self.n_volumes))
        for raw, volume, measured in items:
            if raw_sink is not None:
                raw_sink(raw)
            yield volume, measured

    def _read_ahead(self, fill: Callable[[np.ndarray, int], tuple], depth: int):
        """The items of a reader thread, or None when one would not help: a single volume, no idle core
        (the thread would only share this one's), or no thread to be had (a capped address space)."""
        if self.n_volumes < 2 or not readahead.spare_core():
            return None
        try:
            self._ahead = readahead.ReadAhead(fill, self.n_volumes, lambda: np.empty(self.volume_bytes, dtype=np.uint8),
                                              readahead.ring_depth(depth, self.volume_bytes))
        except RuntimeError:
            return None
        return iter(self._ahead)

    def _volume_filler(self, wants_raw: bool, stored: bool) -> Callable[[np.ndarray, int], tuple]:
        """A function that reads the next volume into a buffer and returns (its stored bytes, the volume).

        The stored bytes are a copy when decoding scales the buffer in place. Volumes are read in
        order, one call each: the first takes what the header's read already holds.
        """
        h, source = self.header, self._opened.source
        decode = _stored_volume if stored and h.exact_integers else _decode_volume
        scaled_in_place = h.scaling is not None and h.output_dtype == np.dtype(h.datatype.numpy)
        offset = int(h.vox_offset)
        pending = memoryview(self._opened.head)[offset:]
        source.skip(offset - len(self._opened.head))

        def fill(buffer: np.ndarray, _index: int) -> tuple:
            nonlocal pending
            view = memoryview(buffer)
            filled = min(len(pending), len(view))
            view[:filled] = pending[:filled]
            pending = pending[filled:]
            if filled < len(view):
                filled += _guarded(lambda: source.readinto(view[filled:]))
            if filled < len(view):
                _guarded(self._opened.count_rest)
                raise InvalidNifti("dim", h.dims, f"dim={h.dims}: the data end early{h.where_data_end()}",
                                   findings=self._opened.findings)
            raw = buffer.copy() if wants_raw and scaled_in_place else buffer
            return raw, _guarded(lambda: decode(buffer, h))

        return fill

    def _stop_reading(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def finish(self) -> Report:
        """After the last volume: the rest of the stream checked (cap, end marker, trailing bytes), the report."""
        return _guarded(self._finish)

    def _finish(self) -> Report:
        self._stop_reading()
        self._opened.count_rest()
        return _report(self._opened)

    def close(self) -> None:
        self._stop_reading()
        self._opened.close()

    def __enter__(self) -> Series:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
