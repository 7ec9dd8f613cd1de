"""Header checks, in order: each returns findings, early and empty when all is well, naming field and value."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workers.plain import human_bytes

from .findings import ERROR, INFO, WARNING, Finding, _fmt_list, _num, _text
from .header import _SPACE_UNITS, _after_gunzip, _Header, voxel_sizes


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
                            f"dim[{i}]={size}: every used dimension must be at least 1 (dim={h.dim})"
                            f"{_freesurfer_surface(h, i, size)}")]
    return []


def _freesurfer_surface(h: _Header, axis: int, size: int) -> str:
    """FreeSurfer stores a surface overlay of more than 32,767 vertices with dim[1]=-1 and the count in glmin."""
    if axis != 1 or size != -1 or h.fmt != "NIfTI-1" or int(h.get("glmin")) <= 0:
        return ""
    return (f"; with glmin={int(h.get('glmin'))} this is FreeSurfer's surface data (one value per vertex), "
            "not a volume: upload the map in volume space")


def _chk_extra_axes(h: _Header) -> list[Finding]:
    d0 = h.dim[0]
    if len(h.shape) > 4:
        return [Finding("dim[0]", d0, ERROR,
                        f"dim[0]={d0} with dim={h.dim[1:d0 + 1]}: more than one axis beyond x, y, z "
                        "has length > 1; neurodrop reads 3D maps and 4D series")]
    if d0 > 4 or (d0 == 4 and len(h.shape) == 3):
        as_3d = " (a 3D map)" if len(h.shape) == 3 else ""
        return [Finding("dim[0]", d0, INFO,
                        f"dim[0]={d0}: axes of length 1 dropped, read as shape {list(h.shape)}{as_3d}")]
    if d0 < 3:
        return [Finding("dim[0]", d0, INFO,
                        f"dim[0]={d0}: fewer than 3 dimensions, read as a volume of shape {list(h.shape)}")]
    return []


def _chk_cifti(h: _Header) -> list[Finding]:
    """CIFTI-2 (HCP's .dscalar.nii, .dtseries.nii, …) is NIfTI-2 on the outside, grayordinates on the inside."""
    code = int(h.get("intent_code"))
    if not 3000 <= code < 3100:
        return []
    return [Finding("intent_code", code, ERROR,
                    f"intent_code={code}: this is a CIFTI file (HCP's .dscalar.nii, .dtseries.nii, …): values on "
                    "surface vertices and grayordinates, not a volume; neurodrop takes volume maps (for a "
                    "volume, use the subcortical part or a map resampled to MNI space, e.g. with "
                    "wb_command -cifti-separate)")]


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
    """scl_slope 0 means no scaling (the standard), and so does a slope that is not a number (as nibabel reads it:
    its fresh headers hold NaN, and files written from them keep it); an unusable intercept under a real slope
    leaves the values unknown."""
    slope, inter = float(h.get("scl_slope")), float(h.get("scl_inter"))
    ignored = f" (scl_inter={inter} ignored)" if inter != 0 else ""
    if not math.isfinite(slope):
        stored_as_floats = np.dtype(h.datatype.numpy).kind == "f"
        return [Finding("scl_slope", _num(slope), INFO if stored_as_floats else WARNING,
                        f"scl_slope={slope}: not a number, so no scaling is applied{ignored}; the values are "
                        f"read as stored ({h.datatype.name}), as nibabel reads them")]
    if slope == 0:
        return [Finding("scl_slope", 0.0, INFO, f"scl_slope=0: no scaling applied{ignored}")] if ignored else []
    if not math.isfinite(inter):
        return [Finding("scl_inter", _num(inter), ERROR,
                        f"scl_inter={inter}: the scaling intercept must be a finite number (scl_slope={slope})")]
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


def _chk_pixdim(h: _Header) -> list[Finding]:
    """Voxel sizes that are not positive, where they make the geometry (a qform, or no transform at all)."""
    if h.affine_choice[0] == "sform":
        return []
    used = [float(v) for v in h.get("pixdim")[1:min(len(h.dims), 3) + 1]]
    if all(math.isfinite(v) and v > 0 for v in used):
        return []
    read_as = [float(v) for v in voxel_sizes(used)]
    return [Finding("pixdim", used, WARNING,
                    f"pixdim[1:{len(used) + 1}]={_fmt_list(used)}: voxel sizes must be positive; read as "
                    f"{_fmt_list(read_as)} (a negative size as its magnitude, zero as 1, as nibabel reads them)")]


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
    _chk_cifti,
    _chk_dim0,
    _chk_dims,
    _chk_extra_axes,
    _chk_datatype,
    _chk_bitpix,
    _chk_datatype_supported,
    _chk_vox_offset,
    _chk_scaling,
    _chk_affine,
    _chk_pixdim,
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
                    f"{human_bytes(cap)} limit (the header asks for {human_bytes(h.data_bytes)} of data); "
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
                    f"({human_bytes(h.data_bytes)}) from byte {int(h.vox_offset)}, but the file holds "
                    f"{human_bytes(h.total_bytes)}{_after_gunzip(h)}{h.where_data_end()}: "
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
