"""Byte sources: the same bounded interface over a plain file and a gzip stream (inflated in pieces)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

from .. import zinflate
from .findings import InvalidNifti

try:  # ISA-L's inflate: the same streams, twice as fast as zlib (docs/decisions/0008-isal-inflate.md)
    from isal import isal_zlib as _inflate_lib

    _INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_lib.error)
except ImportError:  # pragma: no cover - isal is in requirements.txt; zlib is the fallback
    _inflate_lib = zlib
    _INFLATE_ERRORS = (zlib.error,)

_READ_CHUNK = 1 << 20
_PIECE = 1 << 22
_GZIP_MAGIC = b"\x1f\x8b"


class _PlainSource:
    compressed = False

    def __init__(self, fh, size: int):
        self._fh = fh
        self._size = size
        self.consumed = 0
        self.complete = True
        self.trailing = False

    def read(self, n: int) -> bytes:
        data = self._fh.read(n)
        self.consumed += len(data)
        return data

    def skip(self, n: int) -> int:
        n = max(0, min(n, self._size - self.consumed))
        self._fh.seek(n, os.SEEK_CUR)
        self.consumed += n
        return n

    def readinto(self, view: memoryview) -> int:
        filled = 0
        while filled < len(view):
            got = self._fh.readinto(view[filled:])
            if not got:
                break
            filled += got
        self.consumed += filled
        return filled

    def count_rest(self, cap: int) -> bool:
        """Consume the rest; plain files are bounded by their size, so never over the cap."""
        self.skip(self._size - self.consumed)
        return False


class _GzipSource:
    """Decompressed bytes of a gzip file, produced in bounded pieces.

    Concatenated gzip members are read as one stream (as gzip tools do);
    non-gzip bytes after the last member are ignored and flagged. Inflated
    with ISA-L, or with zlib-ng when access points are wanted (``record_points``).
    """

    compressed = True

    def __init__(self, fh):
        self._fh = fh
        self._points = None
        self._start_reading()

    def _start_reading(self) -> None:
        self._fh.seek(0)
        self._carry = b""
        self._pending = memoryview(b"")
        self._produced = 0
        self._inflate = self._inflater(0)
        self.consumed = 0
        self.complete = False
        self.trailing = False

    def _inflater(self, member_start: int):
        if self._points is None:
            return _inflate_lib.decompressobj(31)
        return zinflate.Inflater(points=self._points, start=member_start, out_start=self._produced)

    def record_points(self, points) -> None:
        """From here on, hand access points to ``points`` (``gzindex.AccessPoints``): the stream is read
        again from its start with zlib-ng (only the header has been read so far, a piece of input)."""
        already = self.consumed
        self._points = points
        self._start_reading()
        self.skip(already)

    def _compressed_input(self) -> bytes:
        if self._carry:
            data, self._carry = self._carry, b""
            return data
        return self._fh.read(_READ_CHUNK)

    def _start_next_member(self) -> bool:
        rest = self._inflate.unused_data + self._fh.read(2)
        if not rest:
            return False
        if rest[:2] != _GZIP_MAGIC:
            self.trailing = any(rest) or any(self._fh.read(_READ_CHUNK))
            return False
        self._inflate = self._inflater(self._fh.tell() - len(rest))
        self._carry = rest
        self.complete = False
        return True

    def _next_piece(self, into: memoryview | None = None) -> bytes | memoryview:
        """The next inflated bytes (at most ``_PIECE``), or b"" at the end; written into ``into`` when
        given (the zlib-ng inflater only), else a new buffer."""
        while True:
            if self._inflate.eof:
                self.complete = True
                if not self._start_next_member():
                    return b""
                continue
            data = self._inflate.unconsumed_tail or self._compressed_input()
            if not data:
                out = self._decompress(b"", into)
                self._produced += len(out)
                return out
            out = self._decompress(data, into)
            if out:
                self._produced += len(out)
                return out

    def _decompress(self, data: bytes, into: memoryview | None = None) -> bytes | memoryview:
        try:
            if into is not None:
                return self._inflate.decompress(data, min(len(into), _PIECE), into)
            return self._inflate.decompress(data, _PIECE)
        except _INFLATE_ERRORS as exc:
            raise InvalidNifti(
                "gzip stream", f"corrupt after {self.consumed:,} bytes",
                f"gzip stream=corrupt after {self.consumed:,} decompressed bytes: the compressed data "
                f"are damaged ({exc})") from exc

    def _take(self, n: int, sink: Callable[[memoryview], None] | None) -> int:
        taken = 0
        while taken < n:
            if not self._pending:
                piece = self._next_piece()
                if not piece:
                    break
                self._pending = memoryview(piece)
            part = self._pending[:n - taken]
            if sink is not None:
                sink(part)
            self._pending = self._pending[len(part):]
            taken += len(part)
        self.consumed += taken
        return taken

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        self._take(n, lambda part: parts.append(bytes(part)))
        return b"".join(parts)

    def skip(self, n: int) -> int:
        return self._take(n, None)

    def readinto(self, view: memoryview) -> int:
        if self._points is not None:
            return self._inflate_into(view)
        position = 0

        def copy(part: memoryview) -> None:
            nonlocal position
            view[position:position + len(part)] = part
            position += len(part)

        return self._take(len(view), copy)

    def _inflate_into(self, view: memoryview) -> int:
        """``readinto`` for the zlib-ng inflater: what is pending first, then inflated straight into ``view``."""
        taken = 0
        if self._pending:
            taken = min(len(self._pending), len(view))
            view[:taken] = self._pending[:taken]
            self._pending = self._pending[taken:]
        while taken < len(view):
            piece = self._next_piece(view[taken:])
            if not piece:
                break
            taken += len(piece)
        self.consumed += taken
        return taken

    def count_rest(self, cap: int) -> bool:
        """Consume the rest of the stream; True when it goes past ``cap`` bytes."""
        while self._take(_PIECE, None):
            if self.consumed > cap:
                return True
        return False
