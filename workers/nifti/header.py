"""The header as parsed from raw bytes (never through nibabel's validating loaders), and its affine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from nibabel import nifti1, nifti2
from nibabel.quaternions import quat2mat

from .findings import _fmt_list, _fmt_matrix


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
        if slope == 0 or not math.isfinite(slope) or (slope == 1 and inter == 0):
            return None
        return slope, inter

    @cached_property
    def affine_candidates(self) -> list[tuple[str, int, np.ndarray | None, str]]:
        """(source, code, affine or None, problem) for each transform the header declares."""
        out = []
        sform_code, qform_code = int(self.raw["sform_code"]), int(self.raw["qform_code"])
        if sform_code > 0:
            out.append(("sform", sform_code) + _sform_affine(self.nibabel_header))
        if qform_code > 0:
            out.append(("qform", qform_code) + _qform_affine(self.raw, len(self.dims)))
        return out

    @cached_property
    def nibabel_header(self) -> nifti1.Nifti1Header:
        """nibabel's header object over the same bytes, unchecked: for what it computes exactly as we would."""
        kind = nifti1.Nifti1Header if self.fmt == "NIfTI-1" else nifti2.Nifti2Header
        return kind(self.raw.tobytes(), endianness=self.endian, check=False)

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
    def exact_integers(self) -> bool:
        """Unscaled integers of at most 16 bits: exact in float32, never NaN, summed exactly as they are."""
        stored = np.dtype(self.datatype.numpy)
        return stored.kind in "iu" and stored.itemsize <= 2 and self.scaling is None

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


def _sform_affine(header: nifti1.Nifti1Header) -> tuple[np.ndarray | None, str]:
    """nibabel's sform (the srow_x/y/z rows under [0 0 0 1]), if it is usable.

    The qform and the fallback stay ours: nibabel's refuse quaternions past a float32-sized tolerance and
    take non-positive or non-finite voxel sizes as they are, where a hostile header needs a reason or a default.
    """
    with np.errstate(all="ignore"):
        affine = np.asarray(header.get_sform(), dtype=np.float64)
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
        zooms = voxel_sizes(pixdim[1:4])
        if pixdim[0] == -1:
            zooms[2] = -zooms[2]
        affine = np.eye(4)
        affine[:3, :3] = rotation * zooms
        affine[:3, 3] = offsets
    return _usable(affine, "quatern/pixdim")


def voxel_sizes(pixdim_xyz) -> np.ndarray:
    """pixdim[1:4] as nibabel reads them: a negative size as its magnitude, a zero or non-finite one as 1.

    The reference C library (nifti1_io) takes any size not above zero as 1 in the qform and nibabel agrees for
    zero; for a negative one nibabel (which nilearn and NiMARE read files with) keeps its magnitude, and so do we
    (docs/decisions/0031-awkward-files.md). ``checks._chk_pixdim`` says so in the report.
    """
    zooms = np.abs(np.array(pixdim_xyz, dtype=np.float64))
    zooms[~(np.isfinite(zooms) & (zooms > 0))] = 1.0
    return zooms


def _pixdim_affine(raw, shape) -> np.ndarray:
    """nibabel's fallback without orientation: voxel sizes, x flipped, centred."""
    zooms = voxel_sizes(raw["pixdim"][1:4])
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


def _after_gunzip(h: _Header) -> str:
    return " after decompression" if h.compressed else ""
