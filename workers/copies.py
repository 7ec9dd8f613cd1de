"""Derived copies of an upload, made once by the worker so the web tier only ever sends stored bytes.

A stored file has a length, an ETag and byte ranges, so a 20 GB download can
resume; bytes computed while they are sent have none of these.
"""

from __future__ import annotations

import zlib

try:  # ISA-L's deflate writes the same gzip format ~15x faster than zlib at level 1 (decision 0008)
    from isal import isal_zlib as _deflate_lib
except ImportError:  # pragma: no cover - isal is in requirements.txt; zlib is the fallback
    _deflate_lib = zlib

GZIP_LEVEL = 1  # fast, and most of the gain
_CHUNK = 1 << 20


def gzip_member(*parts) -> bytes:
    """Bytes (or buffers) as one complete gzip member."""
    compressor = _gzip_compressor()
    return b"".join([*(compressor.compress(part) for part in parts), compressor.flush()])


def _gzip_compressor():
    return _deflate_lib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


def write_gzip_copy(path, sink) -> int:
    """Write ``path`` gzipped into ``sink`` (anything with ``write``), a chunk at a time; returns bytes written."""
    compressor = _gzip_compressor()
    written = 0
    with open(path, "rb") as source:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            packed = compressor.compress(chunk)
            if packed:
                sink.write(packed)
                written += len(packed)
    tail = compressor.flush()
    sink.write(tail)
    return written + len(tail)



class StreamingMember:
    """One gzip member fed piece by piece, packed as the pieces arrive so that they need not be held.

    The viewer's copy of a series' first volumes (up to the viewer's budget) used to be held raw
    and packed at the end of the pass. Packing on a thread was tried and dropped: on the busy
    2-core machine the pass was slower with it (median 2.62 s against 2.08 s, decision in
    docs/performance.md).
    """

    def __init__(self, first: bytes):
        self._compressor = _gzip_compressor()
        self._packed = [self._compressor.compress(first)]

    def add(self, data) -> None:
        self._packed.append(self._compressor.compress(data))

    def finish(self) -> bytes:
        return b"".join([*self._packed, self._compressor.flush()])
