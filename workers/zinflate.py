"""zlib-ng's inflate through its C interface: a gzip stream inflated with access points, and resumed at one.

Python's ``zlib`` (and ISA-L's binding) hide where deflate blocks end, which is what an access
point into a gzip stream needs (the bit where a block starts and the 32 KiB of output before it,
as zlib's ``examples/zran.c`` does). zlib-ng has zlib's interface (``Z_BLOCK``,
``inflateGetDictionary``, ``inflatePrime``) at 1.4x ISA-L's inflate time, against 2.5x for the
system zlib (decision 0027). Its library is the one the ``zlib-ng`` package already loaded.
"""

from __future__ import annotations

import ctypes
import zlib

import numpy as np

try:
    from zlib_ng import zlib_ng as _carrier

    _lib = ctypes.CDLL(_carrier.__file__)
except (ImportError, OSError):  # pragma: no cover - zlib-ng is in requirements.txt; without it no points
    _lib = None

Z_NO_FLUSH, Z_BLOCK = 0, 5
Z_OK, Z_STREAM_END, Z_BUF_ERROR = 0, 1, -5
GZIP_WBITS, RAW_WBITS = 31, -15
WINDOW_BYTES = 32768
_AT_BLOCK_END, _LAST_BLOCK = 128, 64


class _Stream(ctypes.Structure):
    """``zng_stream`` (zlib-ng.h): the native interface's sizes (size_t totals, uint32 counts)."""

    _fields_ = [("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint32), ("total_in", ctypes.c_size_t),
                ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint32), ("total_out", ctypes.c_size_t),
                ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p), ("zalloc", ctypes.c_void_p),
                ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p), ("data_type", ctypes.c_int),
                ("adler", ctypes.c_uint32), ("reserved", ctypes.c_ulong)]


def _declare(lib) -> None:
    """Argument types, so that addresses pass as pointers (ctypes would cut them to int)."""
    stream, pointer, i32 = ctypes.POINTER(_Stream), ctypes.c_void_p, ctypes.c_int32
    for name, arguments in (("zng_inflateInit2", [stream, i32]), ("zng_inflate", [stream, i32]),
                            ("zng_inflateEnd", [stream]), ("zng_inflatePrime", [stream, i32, i32]),
                            ("zng_inflateSetDictionary", [stream, pointer, ctypes.c_uint32]),
                            ("zng_inflateGetDictionary", [stream, pointer, ctypes.POINTER(ctypes.c_uint32)])):
        function = getattr(lib, name)
        function.argtypes, function.restype = arguments, i32


if _lib is not None:
    _declare(_lib)


def available() -> bool:
    """Whether access points can be made here (zlib-ng loaded)."""
    return _lib is not None


def _address(buffer: bytearray) -> int:
    return ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer)) if len(buffer) else 0


def _input_address(data: memoryview) -> int:
    """Where the input's own buffer is: read, never written, so not copied (an unconsumed tail is a view of
    the input it came from, not a copy of it)."""
    return np.frombuffer(data, np.uint8).ctypes.data if len(data) else 0


class Inflater:
    """A drop-in for ``zlib.decompressobj(31)`` (``decompress(data, max_length)``, ``eof``,
    ``unconsumed_tail``, ``unused_data``) that hands access points to ``points`` as it passes them.

    ``points`` has ``until_due(position)`` (output bytes before the next point is wanted) and
    ``add(position, in_byte, bits, window)``; ``start`` is
    where this member begins in the file and ``out_start`` where its output begins in the
    whole stream (a file of concatenated members gets one inflater per member).
    """

    def __init__(self, wbits: int = GZIP_WBITS, *, points=None, start: int = 0, out_start: int = 0):
        self._stream = _Stream()
        self._check(_lib.zng_inflateInit2(ctypes.byref(self._stream), wbits))
        self._points, self._start, self._out_start = points, start, out_start
        self.eof = False
        self.unconsumed_tail = self.unused_data = b""

    @classmethod
    def resuming(cls, bits: int, value: int, window: bytes) -> Inflater:
        """A raw inflater at an access point: ``bits`` of ``value`` primed, ``window`` as history."""
        inflater = cls(RAW_WBITS)
        stream = ctypes.byref(inflater._stream)
        if bits:
            inflater._check(_lib.zng_inflatePrime(stream, bits, value))
        history = bytearray(window)
        inflater._check(_lib.zng_inflateSetDictionary(stream, _address(history), len(history)))
        return inflater

    def decompress(self, data, max_length: int, out=None) -> memoryview:
        """Up to ``max_length`` bytes of output from ``data`` (the rest is kept as ``unconsumed_tail``, a view).

        ``out`` (a writable buffer of at least ``max_length`` bytes) receives them instead of a new
        array: a series' volume is inflated straight into its buffer, no copy, no fresh pages.
        """
        source = data if isinstance(data, memoryview) else memoryview(bytes(data))
        if out is None:
            out = np.empty(max_length, np.uint8)  # not zeroed: inflate writes what is returned
        else:
            out = np.frombuffer(out, np.uint8, count=max_length)
        stream = self._stream
        stream.next_in, stream.avail_in = _input_address(source), len(source)
        stream.next_out, stream.avail_out = out.ctypes.data, max_length
        while stream.avail_out and (stream.avail_in or not source):
            if self._inflate_once(stream):
                break
        left = stream.avail_in
        rest = source[len(source) - left:] if left else memoryview(b"")
        self.unconsumed_tail, self.unused_data = (b"", bytes(rest)) if self.eof else (rest, b"")
        return memoryview(out)[:max_length - stream.avail_out]

    def _inflate_once(self, stream: _Stream) -> bool:
        """One call of inflate; True when no more can come from this input (its end, or the stream's).

        Before the next point is due, the output is cut where it falls due, so that points are
        looked for from there on (block by block, ``Z_BLOCK``) and not one whole input chunk later.
        """
        until = self._points.until_due(self._out_start + stream.total_out) if self._points is not None else None
        marking = until is not None and until <= 0
        held = stream.avail_out - until if until is not None and 0 < until < stream.avail_out else 0
        stream.avail_out -= held
        code = _lib.zng_inflate(ctypes.byref(stream), Z_BLOCK if marking else Z_NO_FLUSH)
        stream.avail_out += held
        if code == Z_STREAM_END:
            self.eof = True
            return True
        if code == Z_BUF_ERROR:  # no progress possible: the input is used up (the output had room)
            return True
        self._check(code)
        if marking and stream.data_type & _AT_BLOCK_END and not stream.data_type & _LAST_BLOCK:
            self._mark(stream)
        return False

    def _mark(self, stream: _Stream) -> None:
        window = bytearray(WINDOW_BYTES)
        length = ctypes.c_uint32(0)
        self._check(_lib.zng_inflateGetDictionary(ctypes.byref(stream), _address(window), ctypes.byref(length)))
        self._points.add(self._out_start + stream.total_out, self._start + stream.total_in, stream.data_type & 7,
                         bytes(window[:length.value]))

    def _check(self, code: int) -> None:
        if code != Z_OK:
            message = self._stream.msg.decode(errors="replace") if self._stream.msg else f"code {code}"
            raise zlib.error(f"Error {code} while decompressing data: {message}")

    def __del__(self):
        if _lib is not None and self._stream.state:
            _lib.zng_inflateEnd(ctypes.byref(self._stream))
