"""An index of access points into an uploaded gzip file, so one volume is read without inflating the rest.

Built during the worker's single inflate pass (``zinflate.Inflater`` reports each deflate block
boundary once ``SPACING`` bytes of output have passed since the last point): the table (output
offset, input byte, bits of that byte already used, window length per point) is small and kept
in memory; each point's 32 KiB window goes to a file as it is made (``WINDOW_BYTES`` each, at
its position in the table), so memory stays flat whatever the series' length. With 4 MiB
between points the windows are 1/128 of the uncompressed size. Reading a span inflates at most
``SPACING`` bytes before it (decision 0027).
"""

from __future__ import annotations

import numpy as np

from .zinflate import GZIP_WBITS, WINDOW_BYTES, Inflater

SPACING = 4 * 2**20
ENTRY = np.dtype([("out", "<u8"), ("in", "<u8"), ("bits", "<u4"), ("window", "<u4")])
_READ = 1 << 20
_TRAILER = 8
_GZIP_MAGIC = b"\x1f\x8b"


class AccessPoints:
    """Collects access points as an inflater passes them; windows are written to ``windows`` (has ``write``)."""

    def __init__(self, windows, spacing: int | None = None):
        self._windows = windows
        self.spacing = spacing or SPACING
        self._entries: list[tuple[int, int, int, int]] = []
        self._last = 0

    def until_due(self, position: int) -> int:
        """Output bytes before the next point is wanted (0 or less: at the next block boundary)."""
        return self._last + self.spacing - position

    def add(self, position: int, in_byte: int, bits: int, window: bytes) -> None:
        self._windows.write(window.ljust(WINDOW_BYTES, b"\0"))
        self._entries.append((position, in_byte, bits, len(window)))
        self._last = position

    def table(self) -> bytes:
        """The points as ``ENTRY`` records, in output order."""
        return np.array(self._entries, dtype=ENTRY).tobytes()


def read_span(original, table: bytes, windows, start: int, length: int) -> bytes:
    """Bytes [start, start + length) of the inflated ``original`` (a seekable gzip file), read from the
    nearest access point before ``start``; fewer when the stream ends first."""
    entries = np.frombuffer(table, dtype=ENTRY)
    k = int(np.searchsorted(entries["out"], start, side="right")) - 1 if entries.size else -1
    if k < 0:
        original.seek(0)
        return _collect(original, Inflater(GZIP_WBITS), start, length)
    entry = entries[k]
    windows.seek(k * WINDOW_BYTES)
    window = _read_exactly(windows, int(entry["window"]))
    bits, in_byte = int(entry["bits"]), int(entry["in"])
    original.seek(in_byte - 1 if bits else in_byte)
    value = _read_exactly(original, 1)[0] >> (8 - bits) if bits else 0
    return _collect(original, Inflater.resuming(bits, value, window), start - int(entry["out"]), length)


def _read_exactly(handle, n: int) -> bytes:
    """``n`` bytes, however many reads it takes (a stored object on S3 may answer a read with fewer)."""
    parts, wanted = [], n
    while wanted and (part := handle.read(wanted)):
        parts.append(part)
        wanted -= len(part)
    if wanted:
        raise ValueError(f"the index points past the end of its file ({n - wanted} of {n} bytes)")
    return b"".join(parts)


def _collect(original, inflater: Inflater, skip: int, length: int) -> bytes:
    """Inflate from the current position of ``original``: drop ``skip`` bytes, keep ``length``; later gzip
    members (concatenated files) are followed."""
    kept = bytearray()
    pending = b""
    while len(kept) < length:
        data = inflater.unconsumed_tail or pending or original.read(_READ)
        pending = b""
        piece = inflater.decompress(data, min(skip + length - len(kept), 4 * _READ))
        dropped = min(skip, len(piece))
        skip -= dropped
        kept += piece[dropped:]
        if inflater.eof:
            inflater, pending = _next_member(original, inflater.unused_data)
            if inflater is None:
                break
        elif not data and not piece:
            break
    return bytes(kept)


def _next_member(original, rest: bytes):
    """(an inflater for the next gzip member, its first bytes), or (None, b"") after the last."""
    while len(rest) < _TRAILER + 2:
        more = original.read(_READ)
        if not more:
            break
        rest += more
    rest = rest[_TRAILER:]
    if rest[:2] != _GZIP_MAGIC:
        return None, b""
    return Inflater(GZIP_WBITS), rest
