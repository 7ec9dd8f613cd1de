"""Inspect and read an uploaded NIfTI file without trusting it.

The file arrives from anyone, under any name. Following nibabel's habit, the
header is checked before a single data byte is touched, and every check names
the header field and the value it found, so a researcher can fix the file.

The header is parsed from raw bytes with nibabel's structured dtypes (never
with nibabel's own validating loaders), so hostile values meet our checks and
not an unexpected code path. Compression is detected from the gzip magic
bytes, never from the file name, and a gzip stream is decompressed in bounded
pieces: its size is counted, up to ``max_decompressed_bytes``, without holding
it in memory.

Data are decoded here too, from the validated header, in the same single pass
over the stream: reading a ``.nii.gz`` once instead of twice (once to count,
once in nibabel) is most of the pipeline's cost. The worker reads volume by
volume (``open_series``), so a series of any length costs a few volumes of
memory and ``max_array_bytes`` bounds one volume; ``inspect_and_load`` gives
the whole array (tests, benchmarks), allocated only after its size was
checked against ``max_array_bytes``.

Choices for valid but odd files:

* 1D and 2D images are read as volumes one voxel thick.
* 4D images are read as (x, y, z, t); dimensions beyond the fourth are
  accepted only when they have length 1 (AFNI writes (x, y, z, 1, t)).
* complex, RGB, 1-bit and float128 data are refused: none of them is a
  statistical map, and taking a magnitude or a luminance would silently show
  something other than what was uploaded.
* scl_slope = 0 means "no scaling" (the NIfTI standard); a NaN or infinite
  slope or intercept is refused.
* sform_code = qform_code = 0 is accepted with a warning, using the voxel
  sizes alone (nibabel's fallback).

Every failure is an ``InvalidNifti``; nothing else leaves this module.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from nibabel import nifti1, nifti2
from nibabel.quaternions import quat2mat

GIB = 2**30
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * GIB
DEFAULT_MAX_ARRAY_BYTES = 2 * GIB  # ``inspect_and_load``: the whole array; ``open_series``: one volume
DEFAULT_MAX_VOXELS = 2**31

INFO, WARNING, ERROR = "info", "warning", "error"

try:  # ISA-L's inflate: the same streams, twice as fast as zlib (docs/decisions/0008-isal-inflate.md)
    from isal import isal_zlib as _inflate_lib

    _INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_lib.error)
except ImportError:  # pragma: no cover - isal is in requirements.txt; zlib is the fallback
    _inflate_lib = zlib
    _INFLATE_ERRORS = (zlib.error,)

_READ_CHUNK = 1 << 20
_PIECE = 1 << 22
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Finding:
    """One observation about a file; ``message`` names the field and its value."""

    field: str
    value: Any
    level: str
    message: str

    def to_dict(self) -> dict:
        return {"field": self.field, "value": _jsonable(self.value),
                "level": self.level, "message": self.message}


class InvalidNifti(ValueError):
    """The file can't be used; the message says which field, which value and why.

    ``findings`` carries the warnings gathered before the failure, so the
    validation report can be shown for failed files too. ``internal`` is True
    when the failure was an unexpected exception wrapped at the boundary
    rather than one of our checks.
    """

    def __init__(self, field: str, value: Any, message: str, *,
                 findings: list[Finding] | None = None, internal: bool = False):
        super().__init__(message)
        self.field = field
        self.value = value
        self.message = message
        self.findings = list(findings or [])
        self.internal = internal

    @classmethod
    def from_finding(cls, finding: Finding, findings: list[Finding]) -> InvalidNifti:
        return cls(finding.field, finding.value, finding.message, findings=findings)


@dataclass
class Report:
    """What the header says, plus the findings; plain data, stored as JSON."""

    format: str
    endianness: str
    compressed: bool
    shape: list[int]
    dim: list[int]
    zooms: list[float]
    datatype: str
    bitpix: int
    vox_offset: int
    sform_code: int
    qform_code: int
    affine_source: str
    affine: list[list[float]]
    units: dict
    scaling: dict | None
    intent_code: int
    intent_params: list[float]
    intent_name: str
    descrip: str
    file_bytes: int
    decompressed_bytes: int
    data_bytes: int
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["findings"] = [f.to_dict() for f in self.findings]
        return _jsonable(out)


# --------------------------------------------------------------------------
# datatypes

@dataclass(frozen=True)
class _Datatype:
    name: str
    bitpix: int
    numpy: str | None
    refusal: str | None = None


_DATATYPES = {
    2: _Datatype("uint8", 8, "u1"),
    4: _Datatype("int16", 16, "i2"),
    8: _Datatype("int32", 32, "i4"),
    16: _Datatype("float32", 32, "f4"),
    64: _Datatype("float64", 64, "f8"),
    256: _Datatype("int8", 8, "i1"),
    512: _Datatype("uint16", 16, "u2"),
    768: _Datatype("uint32", 32, "u4"),
    1024: _Datatype("int64", 64, "i8"),
    1280: _Datatype("uint64", 64, "u8"),
    1: _Datatype("binary", 1, None, "1-bit data is not supported"),
    32: _Datatype("complex64", 64, None,
                  "complex data is not a statistical map; upload the magnitude or the real part"),
    1792: _Datatype("complex128", 128, None,
                    "complex data is not a statistical map; upload the magnitude or the real part"),
    2048: _Datatype("complex256", 256, None,
                    "complex data is not a statistical map; upload the magnitude or the real part"),
    128: _Datatype("RGB24", 24, None, "RGB colour data is a picture, not a statistical map"),
    2304: _Datatype("RGBA32", 32, None, "RGBA colour data is a picture, not a statistical map"),
    1536: _Datatype("float128", 128, None,
                    "float128 data is not portable; save the map as float32 or float64"),
}

_SPACE_UNITS = {0: "unknown", 1: "m", 2: "mm", 3: "um"}
_TIME_UNITS = {0: "unknown", 8: "s", 16: "ms", 24: "us", 32: "Hz", 40: "ppm", 48: "rad/s"}
_XFORM_CODES = {0: "unknown", 1: "scanner", 2: "aligned", 3: "talairach", 4: "mni", 5: "template"}


# --------------------------------------------------------------------------
# what we know about one file while checking it

@dataclass
class _Header:
    """A parsed header plus what reading the stream has measured so far."""

    fmt: str
    endian: str
    sizeof_hdr: int
    compressed: bool
    file_bytes: int
    raw: np.void
    max_decompressed_bytes: int
    max_voxels: int
    total_bytes: int | None = None
    over_cap: bool = False
    stream_complete: bool = True
    trailing_data: bool = False

    def get(self, name: str):
        return self.raw[name]

    @cached_property
    def dim(self) -> list[int]:
        return [int(v) for v in self.raw["dim"]]

    @cached_property
    def dims(self) -> list[int]:
        """The used dimensions, dim[1] .. dim[dim[0]] (valid after the dim checks)."""
        return self.dim[1:self.dim[0] + 1]

    @cached_property
    def shape(self) -> tuple[int, ...]:
        """The array shape we hand out: (x, y, z) or (x, y, z, t)."""
        spatial = (self.dims + [1, 1])[:3]
        extra = [d for d in self.dims[3:] if d != 1]
        return tuple(spatial + extra)

    @cached_property
    def n_voxels(self) -> int:
        return math.prod(self.dims)

    @cached_property
    def datatype(self) -> _Datatype | None:
        return _DATATYPES.get(int(self.raw["datatype"]))

    @cached_property
    def data_bytes(self) -> int:
        return self.n_voxels * self.datatype.bitpix // 8

    @cached_property
    def vox_offset(self) -> float:
        return float(self.raw["vox_offset"])

    @cached_property
    def scaling(self) -> tuple[float, float] | None:
        slope, inter = float(self.raw["scl_slope"]), float(self.raw["scl_inter"])
        if slope == 0 or (slope == 1 and inter == 0):
            return None
        return slope, inter

    @cached_property
    def affine_candidates(self) -> list[tuple[str, int, np.ndarray | None, str]]:
        """(source, code, affine or None, problem) for each transform the header declares."""
        out = []
        sform_code, qform_code = int(self.raw["sform_code"]), int(self.raw["qform_code"])
        if sform_code > 0:
            out.append(("sform", sform_code) + _sform_affine(self.raw))
        if qform_code > 0:
            out.append(("qform", qform_code) + _qform_affine(self.raw, len(self.dims)))
        return out

    @cached_property
    def affine_choice(self) -> tuple[str, np.ndarray]:
        for source, _code, affine, _problem in self.affine_candidates:
            if affine is not None:
                return source, affine
        return "pixdim", _pixdim_affine(self.raw, self.shape)

    @cached_property
    def output_dtype(self) -> np.dtype:
        """float64 where float32 would lose precision, float32 otherwise."""
        stored = np.dtype(self.datatype.numpy)
        if stored.itemsize >= 4 and stored.kind in "iu" or stored.itemsize == 8:
            return np.dtype(np.float64)
        return np.dtype(np.float32)

    @cached_property
    def array_bytes(self) -> int:
        """Peak bytes of decoding: the stored bytes plus the float array."""
        return self.data_bytes + self.n_voxels * self.output_dtype.itemsize

    @cached_property
    def n_volumes(self) -> int:
        return self.shape[3] if len(self.shape) == 4 else 1

    @cached_property
    def volume_voxels(self) -> int:
        return math.prod(self.shape[:3])

    @cached_property
    def volume_bytes(self) -> int:
        return self.volume_voxels * self.datatype.bitpix // 8

    @cached_property
    def volume_array_bytes(self) -> int:
        """Peak bytes of decoding one volume: its stored bytes plus its float array."""
        return self.volume_bytes + self.volume_voxels * self.output_dtype.itemsize

    def where_data_end(self) -> str:
        """For a series cut short: which volume the data stop in, so the researcher knows how much is there."""
        if self.n_volumes == 1 or self.total_bytes is None:
            return ""
        complete = max(0, self.total_bytes - int(self.vox_offset)) // self.volume_bytes
        return f"; the data end in volume {min(complete, self.n_volumes - 1)} (counting from 0) of {self.n_volumes}"


def _sform_affine(raw) -> tuple[np.ndarray | None, str]:
    rows = np.array([raw["srow_x"], raw["srow_y"], raw["srow_z"]], dtype=np.float64)
    affine = np.vstack([rows, [0, 0, 0, 1]])
    return _usable(affine, "srow_x/srow_y/srow_z")


def _qform_affine(raw, ndim: int) -> tuple[np.ndarray | None, str]:
    with np.errstate(all="ignore"):
        bcd = np.array([raw["quatern_b"], raw["quatern_c"], raw["quatern_d"]], dtype=np.float64)
        offsets = np.array([raw["qoffset_x"], raw["qoffset_y"], raw["qoffset_z"]], dtype=np.float64)
        pixdim = np.array(raw["pixdim"], dtype=np.float64)
        if not (np.all(np.isfinite(bcd)) and np.all(np.isfinite(offsets))):
            return None, f"quatern_b/c/d={_fmt_list(bcd)}, qoffset={_fmt_list(offsets)}: not finite"
        w2 = 1.0 - float(np.dot(bcd, bcd))
        if w2 < -1e-6:
            return None, f"quatern_b/c/d={_fmt_list(bcd)}: not a rotation (b²+c²+d² > 1)"
        quat = np.concatenate([[math.sqrt(max(w2, 0.0))], bcd])
        rotation = quat2mat(quat / np.linalg.norm(quat))
        zooms = pixdim[1:4].copy()
        zooms[ndim:][~(np.isfinite(zooms[ndim:]) & (zooms[ndim:] > 0))] = 1.0
        if np.any(~np.isfinite(zooms)) or np.any(zooms <= 0):
            return None, f"pixdim[1:4]={_fmt_list(zooms)}: voxel sizes must be positive for the qform"
        if pixdim[0] == -1:
            zooms[2] = -zooms[2]
        affine = np.eye(4)
        affine[:3, :3] = rotation * zooms
        affine[:3, 3] = offsets
    return _usable(affine, "quatern/pixdim")


def _pixdim_affine(raw, shape) -> np.ndarray:
    """nibabel's fallback without orientation: voxel sizes, x flipped, centred."""
    zooms = np.array(raw["pixdim"][1:4], dtype=np.float64)
    zooms[~(np.isfinite(zooms) & (zooms > 0))] = 1.0
    affine = np.diag([-zooms[0], zooms[1], zooms[2], 1.0])
    affine[:3, 3] = -affine[:3, :3] @ ((np.array(shape[:3]) - 1) / 2.0)
    return affine


def _usable(affine: np.ndarray, name: str) -> tuple[np.ndarray | None, str]:
    if not np.all(np.isfinite(affine)):
        return None, f"{name}: the affine has values that are not finite"
    singular = np.linalg.svd(affine[:3, :3], compute_uv=False)
    if singular[0] == 0 or singular[-1] / singular[0] < 1e-8:
        return None, f"{name}={_fmt_matrix(affine[:3])}: the affine is singular"
    return affine, ""


# --------------------------------------------------------------------------
# header checks: each returns findings, early and empty when all is well

def _chk_magic(h: _Header) -> list[Finding]:
    magic = bytes(h.get("magic")).rstrip(b"\0")
    single, pair = (b"n+1", b"ni1") if h.fmt == "NIfTI-1" else (b"n+2", b"ni2")
    if magic == single:
        if h.fmt == "NIfTI-2" and list(h.get("eol_check")) != [13, 10, 26, 10]:
            return [Finding("eol_check", [int(v) for v in h.get("eol_check")], WARNING,
                            f"eol_check={list(h.get('eol_check'))}: expected [13, 10, 26, 10]; "
                            "the file may have been copied in text mode")]
        return []
    if magic == pair:
        return [Finding("magic", _text(magic), ERROR,
                        f"magic={_text(magic)!r}: this is the header of a NIfTI pair (.hdr); its data are "
                        "in a separate .img file that is missing here. Upload a single .nii or .nii.gz file")]
    if h.fmt == "NIfTI-1":
        return [Finding("magic", _text(magic), ERROR,
                        f"magic={_text(magic)!r}: this looks like an Analyze 7.5 header (.hdr) without its "
                        ".img data, not a NIfTI file. Convert it to a single .nii file")]
    return [Finding("magic", _text(magic), ERROR,
                    f"magic={_text(magic)!r}: expected 'n+2' for a NIfTI-2 file (sizeof_hdr=540)")]


def _chk_dim0(h: _Header) -> list[Finding]:
    d0 = h.dim[0]
    if 1 <= d0 <= 7:
        return []
    return [Finding("dim[0]", d0, ERROR,
                    f"dim[0]={d0}: expected 1 to 7 (the number of dimensions); "
                    "the header is damaged or not NIfTI")]


def _chk_dims(h: _Header) -> list[Finding]:
    for i, size in enumerate(h.dims, start=1):
        if size < 1:
            return [Finding(f"dim[{i}]", size, ERROR,
                            f"dim[{i}]={size}: every used dimension must be at least 1 (dim={h.dim})")]
    return []


def _chk_extra_axes(h: _Header) -> list[Finding]:
    d0 = h.dim[0]
    if len(h.shape) > 4:
        return [Finding("dim[0]", d0, ERROR,
                        f"dim[0]={d0} with dim={h.dim[1:d0 + 1]}: more than one axis beyond x, y, z "
                        "has length > 1; neurodrop reads 3D maps and 4D series")]
    if d0 > 4:
        return [Finding("dim[0]", d0, INFO,
                        f"dim[0]={d0}: axes of length 1 dropped, read as shape {list(h.shape)}")]
    if d0 < 3:
        return [Finding("dim[0]", d0, INFO,
                        f"dim[0]={d0}: fewer than 3 dimensions, read as a volume of shape {list(h.shape)}")]
    return []


def _chk_datatype(h: _Header) -> list[Finding]:
    code = int(h.get("datatype"))
    if h.datatype is not None:
        return []
    return [Finding("datatype", code, ERROR, f"datatype={code}: not a NIfTI datatype code")]


def _chk_bitpix(h: _Header) -> list[Finding]:
    bitpix = int(h.get("bitpix"))
    if bitpix == h.datatype.bitpix:
        return []
    return [Finding("bitpix", bitpix, ERROR,
                    f"bitpix={bitpix}: datatype {h.datatype.name} has {h.datatype.bitpix} bits per voxel")]


def _chk_datatype_supported(h: _Header) -> list[Finding]:
    if h.datatype.refusal is None:
        return []
    return [Finding("datatype", h.datatype.name, ERROR,
                    f"datatype={int(h.get('datatype'))} ({h.datatype.name}): {h.datatype.refusal}")]


def _chk_vox_offset(h: _Header) -> list[Finding]:
    offset = h.vox_offset
    if not math.isfinite(offset) or offset != int(offset):
        return [Finding("vox_offset", _num(offset), ERROR,
                        f"vox_offset={offset}: not a whole number of bytes")]
    if offset < h.sizeof_hdr:
        return [Finding("vox_offset", int(offset), ERROR,
                        f"vox_offset={int(offset)}: the data of a single-file {h.fmt} must start after its "
                        f"{h.sizeof_hdr}-byte header")]
    if offset < h.sizeof_hdr + 4:
        return [Finding("vox_offset", int(offset), WARNING,
                        f"vox_offset={int(offset)}: data overlap the 4-byte extension flag "
                        f"(expected at least {h.sizeof_hdr + 4})")]
    return []


def _chk_scaling(h: _Header) -> list[Finding]:
    slope, inter = float(h.get("scl_slope")), float(h.get("scl_inter"))
    if not math.isfinite(slope):
        return [Finding("scl_slope", _num(slope), ERROR,
                        f"scl_slope={slope}: the scaling factor must be a finite number")]
    if not math.isfinite(inter):
        return [Finding("scl_inter", _num(inter), ERROR,
                        f"scl_inter={inter}: the scaling intercept must be a finite number")]
    if slope == 0 and inter != 0:
        return [Finding("scl_slope", 0.0, INFO,
                        f"scl_slope=0: no scaling applied (scl_inter={inter} ignored)")]
    return []


def _chk_affine(h: _Header) -> list[Finding]:
    candidates = h.affine_candidates
    if not candidates:
        return [Finding("sform_code", 0, WARNING,
                        "sform_code=0 and qform_code=0: the file stores no orientation; voxel sizes "
                        "alone are used, so left/right and position in MNI space are guesses")]
    usable = [c for c in candidates if c[2] is not None]
    broken = [c for c in candidates if c[2] is None]
    if not usable:
        source, code, _aff, problem = broken[0]
        return [Finding(f"{source}_code", code, ERROR,
                        f"{source}_code={code} but {problem}: no usable orientation")]
    return [Finding(f"{source}_code", code, WARNING,
                    f"{source}_code={code} but {problem}; using the {usable[0][0]} instead")
            for source, code, _aff, problem in broken]


def _chk_units(h: _Header) -> list[Finding]:
    code = int(h.get("xyzt_units"))
    space = code & 0x07
    if space == 2:
        return []
    if space == 0:
        return [Finding("xyzt_units", code, INFO,
                        f"xyzt_units={code}: spatial units unknown, taken as mm")]
    if space in _SPACE_UNITS:
        return [Finding("xyzt_units", code, WARNING,
                        f"xyzt_units={code}: spatial units are {_SPACE_UNITS[space]}, "
                        "coordinates are shown as if they were mm")]
    return [Finding("xyzt_units", code, WARNING,
                    f"xyzt_units={code}: unknown spatial unit code {space}, taken as mm")]


CHECKS: tuple[Callable[[_Header], list[Finding]], ...] = (
    _chk_magic,
    _chk_dim0,
    _chk_dims,
    _chk_extra_axes,
    _chk_datatype,
    _chk_bitpix,
    _chk_datatype_supported,
    _chk_vox_offset,
    _chk_scaling,
    _chk_affine,
    _chk_units,
)


# --------------------------------------------------------------------------
# checks once the stream has been read or counted

def _chk_decompressed_cap(h: _Header) -> list[Finding]:
    if not h.over_cap:
        return []
    cap = h.max_decompressed_bytes
    return [Finding("decompressed size", f"> {cap}", ERROR,
                    f"decompressed size > {cap:,} bytes: the gzip stream inflates beyond the "
                    f"{_human_bytes(cap)} limit (the header asks for {_human_bytes(h.data_bytes)} of data); "
                    "this is a decompression bomb or a file too large for this site")]


def _chk_gzip_complete(h: _Header) -> list[Finding]:
    if h.stream_complete:
        return []
    return [Finding("gzip stream", h.total_bytes, ERROR,
                    f"gzip stream={h.total_bytes:,} bytes: the compressed stream stops without its end "
                    f"marker after {h.total_bytes:,} decompressed bytes (the header needs "
                    f"{int(h.vox_offset) + h.data_bytes:,}){h.where_data_end()}: the file is truncated")]


def _chk_vox_offset_in_file(h: _Header) -> list[Finding]:
    if h.vox_offset <= h.total_bytes:
        return []
    return [Finding("vox_offset", int(h.vox_offset), ERROR,
                    f"vox_offset={int(h.vox_offset):,}: the data would start beyond the end of the file, "
                    f"which holds {h.total_bytes:,} bytes{_after_gunzip(h)}")]


def _chk_data_present(h: _Header) -> list[Finding]:
    needed = int(h.vox_offset) + h.data_bytes
    if h.total_bytes >= needed:
        return []
    return [Finding("dim", h.dims, ERROR,
                    f"dim={h.dims}: the header says {h.n_voxels:,} voxels of {h.datatype.name} "
                    f"({_human_bytes(h.data_bytes)}) from byte {int(h.vox_offset)}, but the file holds "
                    f"{_human_bytes(h.total_bytes)}{_after_gunzip(h)}{h.where_data_end()}: "
                    "the file is truncated or not NIfTI")]


def _chk_trailing_data(h: _Header) -> list[Finding]:
    if not h.trailing_data:
        return []
    return [Finding("gzip stream", "trailing bytes", WARNING,
                    "gzip stream=trailing bytes: bytes that are not gzip follow the compressed stream; "
                    "they were ignored")]


def _chk_voxel_limit(h: _Header) -> list[Finding]:
    """Per volume: a series is read one volume at a time, so its length is bounded by the bytes, not here."""
    if h.volume_voxels <= h.max_voxels:
        return []
    return [Finding("dim", h.dims, ERROR,
                    f"dim={h.dims}: {h.volume_voxels:,} voxels per volume, more than the {h.max_voxels:,} "
                    "this site reads")]


STREAM_CHECKS: tuple[Callable[[_Header], list[Finding]], ...] = (
    _chk_decompressed_cap,
    _chk_gzip_complete,
    _chk_vox_offset_in_file,
    _chk_data_present,
    _chk_trailing_data,
    _chk_voxel_limit,
)


# --------------------------------------------------------------------------
# byte sources: the same interface over a plain file and a gzip stream

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
    non-gzip bytes after the last member are ignored and flagged.
    """

    compressed = True

    def __init__(self, fh):
        self._fh = fh
        self._inflate = _inflate_lib.decompressobj(31)
        self._carry = b""
        self._pending = memoryview(b"")
        self._input_done = False
        self.consumed = 0
        self.complete = False
        self.trailing = False

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
        self._inflate = _inflate_lib.decompressobj(31)
        self._carry = rest
        self.complete = False
        return True

    def _next_piece(self) -> bytes:
        while True:
            if self._inflate.eof:
                self.complete = True
                if not self._start_next_member():
                    return b""
                continue
            data = self._inflate.unconsumed_tail or self._compressed_input()
            if not data:
                out = self._inflate.decompress(b"", _PIECE)
                if not out:
                    return b""
                return out
            out = self._decompress(data)
            if out:
                return out

    def _decompress(self, data: bytes) -> bytes:
        try:
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
        position = 0

        def copy(part: memoryview) -> None:
            nonlocal position
            view[position:position + len(part)] = part
            position += len(part)

        return self._take(len(view), copy)

    def count_rest(self, cap: int) -> bool:
        """Consume the rest of the stream; True when it goes past ``cap`` bytes."""
        while self._take(_PIECE, None):
            if self.consumed > cap:
                return True
        return False


# --------------------------------------------------------------------------
# recognising what a file is

_LOOKS_LIKE = (
    (lambda b: b[128:132] == b"DICM", "a DICOM file; convert it to NIfTI first (e.g. with dcm2niix)"),
    (lambda b: b[:4] == b"PK\x03\x04", "a ZIP archive; unpack it and upload the .nii or .nii.gz inside"),
    (lambda b: b[:2] == _GZIP_MAGIC, "a gzip file inside a gzip file (compressed twice)"),
    (lambda b: b[:3] == b"BZh", "a bzip2 archive, not a NIfTI file"),
    (lambda b: b[:6] == b"\xfd7zXZ\x00", "an xz archive, not a NIfTI file"),
    (lambda b: b[:4] == b"\x28\xb5\x2f\xfd", "a zstd archive, not a NIfTI file"),
    (lambda b: b[:4] == b"%PDF", "a PDF document"),
    (lambda b: b[:8] == b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (lambda b: b[:3] == b"\xff\xd8\xff", "a JPEG picture"),
    (lambda b: b[:8] == b"\x89HDF\r\n\x1a\n", "an HDF5 file (MINC 2?), not NIfTI"),
    (lambda b: b[:4] == b"NRRD", "an NRRD file, not NIfTI"),
    (lambda b: _looks_like_html(b), "an HTML page"),
    (lambda b: b.lstrip()[:1] in (b"{", b"["), "a JSON document"),
    (lambda b: _looks_like_text(b), "a text file"),
)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip().lower()
    return start[:1] == b"<" and start[1:2].isalpha() or start.startswith((b"<!doctype", b"<?xml", b"<!--"))


def _looks_like_text(head: bytes) -> bool:
    sample = head[:512]
    return bool(sample) and all(32 <= c < 127 or c in (9, 10, 13) for c in sample)


def _not_nifti(head: bytes, compressed: bool) -> InvalidNifti:
    inside = "a gzip file holding " if compressed else ""
    for test, description in _LOOKS_LIKE:
        if test(head):
            return InvalidNifti("file", _preview(head),
                                f"this looks like {inside}{description}, not a NIfTI file "
                                f"(it starts with {_preview(head)})")
    size_le = int.from_bytes(head[:4].ljust(4, b"\0"), "little", signed=True)
    return InvalidNifti("sizeof_hdr", size_le,
                        f"sizeof_hdr={size_le}: a NIfTI file starts with 348 (NIfTI-1) or 540 (NIfTI-2); "
                        f"this is not a NIfTI file (it starts with {_preview(head)})")


def _identify(head: bytes, compressed: bool) -> tuple[str, str, int]:
    """(format, byte order, header size) from sizeof_hdr read in both byte orders."""
    for fmt, size in (("NIfTI-1", 348), ("NIfTI-2", 540)):
        for endian, order in (("<", "little"), (">", "big")):
            if len(head) >= 4 and int.from_bytes(head[:4], order, signed=True) == size:
                if len(head) < size:
                    raise InvalidNifti("file", len(head),
                                       f"file={len(head)} bytes{' after decompression' if compressed else ''}: "
                                       f"shorter than the {size}-byte {fmt} header it starts; "
                                       "the file is truncated")
                return fmt, endian, size
    raise _not_nifti(head, compressed)


# --------------------------------------------------------------------------
# the public entry points

def inspect(path, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_voxels: int = DEFAULT_MAX_VOXELS) -> Report:
    """Check the header, then count the bytes behind it, without keeping the data."""
    return _guarded(lambda: _inspect(path, max_decompressed_bytes, max_voxels))


def inspect_and_load(path, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                     max_voxels: int = DEFAULT_MAX_VOXELS,
                     max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> tuple[Report, np.ndarray]:
    """The worker's path: the same checks as ``inspect`` and the data, in one pass over the file.

    The array is float32 (float64 for float64 and 32/64-bit integer data),
    scaled, shaped (x, y, z) or (x, y, z, t). The report also gets findings
    about the values (all NaN, all zero, infinities).
    """
    return _guarded(lambda: _inspect_and_load(path, max_decompressed_bytes, max_voxels, max_array_bytes))


def load_data(path, report: Report | None = None, *,
              max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
              max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> np.ndarray:
    """The data of a file ``inspect`` accepted; the header is checked again on the way.

    Passing the report makes sure the file did not change since it was inspected.
    """
    new_report, data = inspect_and_load(path, max_decompressed_bytes=max_decompressed_bytes,
                                        max_array_bytes=max_array_bytes)
    if report is not None and (new_report.shape, new_report.datatype, new_report.decompressed_bytes) != (
            report.shape, report.datatype, report.decompressed_bytes):
        raise InvalidNifti("file", "changed",
                           "file=changed: the file is not the one that was inspected")
    return data


def open_series(path, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                max_voxels: int = DEFAULT_MAX_VOXELS,
                max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> Series:
    """The worker's path for files of any length: the header checked, then the data one volume at a time.

    ``max_array_bytes`` bounds one volume (its stored bytes plus its floats),
    not the series: memory stays flat whatever the number of volumes, and the
    whole file is bounded by the upload limit and ``max_decompressed_bytes``.
    Use as a context manager: iterate ``volumes()`` once, then ``finish()``.
    """
    return _guarded(lambda: Series(path, max_decompressed_bytes, max_voxels, max_array_bytes))


class Series:
    """An opened file whose header passed the checks, read in one pass, volume by volume.

    A gzip stream is inflated once, in bounded pieces, as the volumes are
    taken; an uncompressed file is read at its offsets. Data that stop early
    fail with a reason naming the volume where they ended; a claim that cannot
    fit the decompression cap is settled before any volume is decoded.
    """

    def __init__(self, path, max_decompressed_bytes: int, max_voxels: int, max_array_bytes: int):
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
                               f"needs {_human_bytes(h.volume_array_bytes)} of memory to read, more than the "
                               f"{_human_bytes(max_array_bytes)} this site allows",
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

    def volumes(self, raw_sink: Callable[[np.ndarray], None] | None = None):
        """Each volume as floats, shaped (x, y, z), in order; each array is new (keeping one is safe).

        ``raw_sink`` gets each volume's stored bytes first (a uint8 array it may keep).
        """
        h, source = self.header, self._opened.source
        offset = int(h.vox_offset)
        pending = memoryview(self._opened.head)[offset:]
        source.skip(offset - len(self._opened.head))
        for _ in range(h.n_volumes):
            buffer = np.empty(h.volume_bytes, dtype=np.uint8)
            view = memoryview(buffer)
            filled = min(len(pending), len(view))
            view[:filled] = pending[:filled]
            pending = pending[filled:]
            if filled < len(view):
                filled += _guarded(lambda view=view, filled=filled: source.readinto(view[filled:]))
            if filled < len(view):
                _guarded(self._opened.count_rest)
                raise InvalidNifti("dim", h.dims, f"dim={h.dims}: the data end early{h.where_data_end()}",
                                   findings=self._opened.findings)
            if raw_sink is not None:
                scaled_in_place = h.scaling is not None and h.output_dtype == np.dtype(h.datatype.numpy)
                raw_sink(buffer.copy() if scaled_in_place else buffer)
            yield _guarded(lambda buffer=buffer: _decode_volume(buffer, h))

    def finish(self) -> Report:
        """After the last volume: the rest of the stream checked (cap, end marker, trailing bytes), the report."""
        return _guarded(self._finish)

    def _finish(self) -> Report:
        self._opened.count_rest()
        return _report(self._opened)

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> Series:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def findings_from_counts(n_voxels: int, n_nan: int, n_inf: int, n_values: int) -> list[Finding]:
    """``value_findings`` from counts gathered volume by volume (a series is never in memory whole)."""
    if n_voxels and n_nan == n_voxels:
        return [Finding("data", "all NaN", WARNING, "data=all NaN: every voxel is NaN; the map is empty")]
    findings = []
    if n_inf:
        findings.append(Finding("data", f"{n_inf} infinite", WARNING,
                                f"data={n_inf:,} infinite voxels: shown as the extremes, left out of statistics"))
    if n_voxels - n_nan - n_inf and not n_values:
        findings.append(Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0"))
    return findings


def value_findings(data: np.ndarray) -> list[Finding]:
    """Warnings about the values themselves, which the header can't tell.

    Most maps hold no NaN or infinity: then their min and max (two fast
    reductions) are finite and answer everything; the voxel-by-voxel counts
    are made only for the others.
    """
    if data.size and data.dtype.kind == "f":
        low, high = data.min(), data.max()
        if np.isfinite(low) and np.isfinite(high):
            if low == 0 and high == 0:
                return [Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0")]
            return []
    finite = np.isfinite(data)
    n_finite = int(np.count_nonzero(finite))
    if n_finite == 0:
        n_nan = int(np.count_nonzero(np.isnan(data)))
        if n_nan == data.size:
            return [Finding("data", "all NaN", WARNING, "data=all NaN: every voxel is NaN; the map is empty")]
    findings = []
    n_inf = int(np.count_nonzero(np.isinf(data))) if n_finite < data.size else 0
    if n_inf:
        findings.append(Finding("data", f"{n_inf} infinite", WARNING,
                                f"data={n_inf:,} infinite voxels: shown as the extremes, left out of statistics"))
    if n_finite and not np.any(data[finite]):
        findings.append(Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0"))
    return findings


# --------------------------------------------------------------------------
# how the entry points work

def _guarded(work: Callable[[], Any]) -> Any:
    """Turn any residual failure into an InvalidNifti, chained to the original for the logs."""
    try:
        with np.errstate(all="ignore"):
            return work()
    except InvalidNifti:
        raise
    except FileNotFoundError as exc:
        raise InvalidNifti("file", "missing", f"file=missing: {exc.strerror}: {exc.filename}",
                           internal=True) from exc
    except MemoryError as exc:
        raise InvalidNifti("file", "too large", "file=too large: not enough memory to read this image",
                           internal=True) from exc
    except Exception as exc:  # noqa: BLE001 - the module's contract is "InvalidNifti or a result"
        raise InvalidNifti("file", type(exc).__name__,
                           f"file={type(exc).__name__}: the file could not be read ({exc})",
                           internal=True) from exc


class _Opened:
    """An open file with its byte source and its checked header."""

    def __init__(self, path, max_decompressed_bytes: int, max_voxels: int):
        self._fh = open(path, "rb")
        try:
            self.file_bytes = os.fstat(self._fh.fileno()).st_size
            first = self._fh.read(2)
            self._fh.seek(0)
            if self.file_bytes == 0:
                raise InvalidNifti("file", 0, "file=0 bytes: the file is empty")
            if first == _GZIP_MAGIC:
                self.source = _GzipSource(self._fh)
            else:
                self.source = _PlainSource(self._fh, self.file_bytes)
            self.findings: list[Finding] = []
            self.header = self._read_header(max_decompressed_bytes, max_voxels)
        except BaseException:
            self._fh.close()
            raise

    def _read_header(self, max_decompressed_bytes: int, max_voxels: int) -> _Header:
        head = self.source.read(540)
        if not head:
            raise InvalidNifti("file", 0, "file=0 bytes after decompression: the gzip stream is empty")
        fmt, endian, size = _identify(head, self.source.compressed)
        dtype = (nifti1.header_dtype if fmt == "NIfTI-1" else nifti2.header_dtype).newbyteorder(endian)
        self.head = head
        h = _Header(fmt=fmt, endian=endian, sizeof_hdr=size, compressed=self.source.compressed,
                    file_bytes=self.file_bytes, raw=np.frombuffer(head[:size], dtype=dtype)[0],
                    max_decompressed_bytes=max_decompressed_bytes, max_voxels=max_voxels)
        self.run(CHECKS, h)
        return h

    def run(self, checks, h: _Header) -> None:
        for check in checks:
            for finding in check(h):
                if finding.level == ERROR:
                    raise InvalidNifti.from_finding(finding, self.findings)
                self.findings.append(finding)

    def count_rest(self) -> None:
        h = self.header
        h.over_cap = self.source.count_rest(h.max_decompressed_bytes)
        h.total_bytes = self.source.consumed
        h.stream_complete = self.source.complete
        h.trailing_data = self.source.trailing
        self.run(STREAM_CHECKS, h)

    def read_data(self) -> np.ndarray:
        """The stored data bytes; short when the file is (the stream checks then refuse it)."""
        h = self.header
        offset = int(h.vox_offset)
        buffer = np.empty(h.data_bytes, dtype=np.uint8)
        view = memoryview(buffer)
        in_head = self.head[offset:offset + h.data_bytes]
        view[:len(in_head)] = in_head
        self.source.skip(offset - len(self.head))
        if len(in_head) < h.data_bytes:
            self.source.readinto(view[len(in_head):])
        return buffer

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _inspect(path, max_decompressed_bytes: int, max_voxels: int) -> Report:
    with _Opened(path, max_decompressed_bytes, max_voxels) as opened:
        opened.count_rest()
        return _report(opened)


def _inspect_and_load(path, max_decompressed_bytes: int, max_voxels: int,
                      max_array_bytes: int) -> tuple[Report, np.ndarray]:
    with _Opened(path, max_decompressed_bytes, max_voxels) as opened:
        h = opened.header
        if h.n_voxels > max_voxels or h.array_bytes > max_array_bytes:
            opened.count_rest()
            raise InvalidNifti("dim", h.dims,
                               f"dim={h.dims}: {h.n_voxels:,} voxels of {h.datatype.name} need "
                               f"{_human_bytes(h.array_bytes)} of memory to read, more than the "
                               f"{_human_bytes(max_array_bytes)} this site allows",
                               findings=opened.findings)
        if h.compressed and int(h.vox_offset) + h.data_bytes > max_decompressed_bytes:
            opened.count_rest()  # can't be satisfied: the stream checks say whether it is a bomb or short
        raw = opened.read_data()
        opened.count_rest()
        data = _decode(raw, h)
        report = _report(opened)
    report.findings.extend(value_findings(data))
    return report, data


def _decode(raw: np.ndarray, h: _Header) -> np.ndarray:
    return _floats(raw, h).reshape(h.shape, order="F")


def _decode_volume(raw: np.ndarray, h: _Header) -> np.ndarray:
    return _floats(raw, h).reshape(h.shape[:3], order="F")


def _floats(raw: np.ndarray, h: _Header) -> np.ndarray:
    """Stored bytes to scaled floats; the buffer is ours, so it is reused when it already is the floats."""
    stored = np.dtype(h.datatype.numpy).newbyteorder(h.endian)
    data = raw.view(stored).astype(h.output_dtype, copy=False)
    if h.scaling is not None:
        slope, inter = h.scaling
        data *= data.dtype.type(slope)
        data += data.dtype.type(inter)
    return data


def _report(opened: _Opened) -> Report:
    h = opened.header
    source, affine = h.affine_choice
    zooms = [float(z) for z in np.linalg.norm(affine[:3, :3], axis=0)]
    if len(h.shape) == 4:
        zooms.append(_num(float(h.get("pixdim")[4])))
    units_code = int(h.get("xyzt_units"))
    return Report(
        format=h.fmt,
        endianness="little" if h.endian == "<" else "big",
        compressed=h.compressed,
        shape=list(h.shape),
        dim=h.dim,
        zooms=zooms,
        datatype=h.datatype.name,
        bitpix=int(h.get("bitpix")),
        vox_offset=int(h.vox_offset),
        sform_code=int(h.get("sform_code")),
        qform_code=int(h.get("qform_code")),
        affine_source=source,
        affine=affine.tolist(),
        units={"space": _SPACE_UNITS.get(units_code & 0x07, "unknown"),
               "time": _TIME_UNITS.get(units_code & 0x38, "unknown")},
        scaling=None if h.scaling is None else {"slope": h.scaling[0], "inter": h.scaling[1]},
        intent_code=int(h.get("intent_code")),
        intent_params=[float(h.get(f"intent_p{i}")) for i in (1, 2, 3)],
        intent_name=_text(bytes(h.get("intent_name"))),
        descrip=_text(bytes(h.get("descrip"))),
        file_bytes=h.file_bytes,
        decompressed_bytes=h.total_bytes,
        data_bytes=h.data_bytes,
        findings=list(opened.findings),
    )


# --------------------------------------------------------------------------
# small formatting helpers

def _human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    power = min(int(math.log10(n)) // 3, 6)
    return f"{n / 1000**power:.3g} {('KB', 'MB', 'GB', 'TB', 'PB', 'EB')[power - 1]}"


def _after_gunzip(h: _Header) -> str:
    return " after decompression" if h.compressed else ""


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _preview(head: bytes) -> str:
    return repr(head[:16])


def _num(x: float) -> float | str:
    """A float for JSON: NaN and infinities as their names."""
    return x if math.isfinite(x) else str(x)


def _fmt_list(values) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def _fmt_matrix(rows) -> str:
    return "[" + ", ".join(_fmt_list(r) for r in rows) + "]"


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
