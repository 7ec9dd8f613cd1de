"""Generate NIfTI test files, good and hostile, into a temporary directory.

No binaries are committed: every test builds the files it needs from these
small functions. Good files go through nibabel; hostile ones are made by
editing raw header bytes after the fact, so they can hold values nibabel
itself would refuse to write.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import nifti1, nifti2

GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------
# good files

def make_nifti(path, data, affine=None, *, nifti2: bool = False, big_endian: bool = False,
               gz: bool | None = None, dtype=None, scl_slope: float | None = None,
               scl_inter: float = 0.0, sform_code: int = 4, qform_code: int = 4,
               xyzt_units: int = 2 + 8) -> Path:
    """Write ``data`` as a NIfTI file; compression follows ``gz``, else the suffix.

    ``scl_slope``/``scl_inter`` are written into the header as given and the
    array is stored unscaled, so the file's values are data * slope + inter.
    """
    path = Path(path)
    gz = path.name.endswith(".gz") if gz is None else gz
    image_class = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    header = image_class.header_class(endianness=">" if big_endian else "<")
    data = np.asarray(data)
    if dtype is not None:
        data = data.astype(dtype)
    image = image_class(data, np.eye(4) if affine is None else affine, header=header)
    image.set_data_dtype(data.dtype)
    image.header.set_sform(image.affine, sform_code)
    image.header.set_qform(image.affine, qform_code)
    image.header["xyzt_units"] = xyzt_units
    payload = _payload(image)
    if scl_slope is not None:
        payload = _with_fields(payload, scl_slope=scl_slope, scl_inter=scl_inter)
    return write_raw(path, payload, gz=gz)


def _payload(image) -> bytes:
    """The uncompressed bytes of an image, data stored as-is (no rescaling)."""
    header = image.header.copy()
    header.set_data_offset(header.single_vox_offset)
    header.set_slope_inter(1.0, 0.0)
    data = np.asanyarray(image.dataobj).astype(header.get_data_dtype())
    extension_flag = b"\0" * (int(header.single_vox_offset) - header.sizeof_hdr)
    return header.binaryblock + extension_flag + data.tobytes(order="F")


def mni_affine(voxel_mm: float = 4.0) -> np.ndarray:
    """FSL's MNI152 grid (x flipped, origin at 90, -126, -72) at any voxel size."""
    affine = np.diag([-voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [90.0, -126.0, -72.0]
    return affine


def mni_shape(voxel_mm: float = 4.0) -> tuple[int, int, int]:
    return tuple(int(np.ceil(extent / voxel_mm)) + 1 for extent in (180, 216, 180))


def mni_like_data(voxel_mm: float = 4.0, *, signed: bool = True, seed: int = 0,
                  outside=0.0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth statistical map on an MNI grid: non-zero inside a brain-sized ellipsoid.

    Two blobs (a positive one right-superior, a negative one left-posterior
    when ``signed``) over weak noise, ``outside`` (0 or NaN) beyond the
    ellipsoid; it covers the MNI brain mask, so not_mni comes out False.
    """
    affine = mni_affine(voxel_mm)
    shape = mni_shape(voxel_mm)
    mm = _mm_grid(shape, affine)
    inside = (((mm[0] / 74) ** 2 + ((mm[1] + 18) / 100) ** 2 + ((mm[2] - 12) / 82) ** 2) <= 1)
    rng = np.random.default_rng(seed)
    data = 0.5 + 0.2 * rng.standard_normal(shape)
    data += 6.0 * _blob(mm, (40, -20, 50), 15)
    data += (-5.0 if signed else 4.0) * _blob(mm, (-40, -60, 10), 15)
    data = np.where(inside, data, outside).astype(np.float32)
    return data, affine


def mni_like_map(path, voxel_mm: float = 4.0, *, signed: bool = True, outside=0.0, **kwargs) -> Path:
    data, affine = mni_like_data(voxel_mm, signed=signed, outside=outside)
    return make_nifti(path, data, affine, **kwargs)


def mni_like_4d(path, volumes: int = 4, voxel_mm: float = 4.0, **kwargs) -> Path:
    """A 4D series whose volume t is the MNI-like map times (t + 1)."""
    data, affine = mni_like_data(voxel_mm)
    series = np.stack([data * (t + 1) for t in range(volumes)], axis=-1)
    return make_nifti(path, series, affine, **kwargs)


def write_long_series(path, shape, volumes: int, volume_at, affine=None, *, dtype=np.int16) -> Path:
    """A 4D series written volume by volume to a gzip stream (level 1), never whole in memory.

    ``volume_at(t)`` gives volume t (shape ``shape``, stored as ``dtype``); the
    end-to-end tests make series larger than a worker may hold with it.
    """
    header = nib.Nifti1Header()
    header.set_data_shape(tuple(shape) + (volumes,))
    header.set_data_dtype(dtype)
    header.set_sform(np.eye(4) if affine is None else affine, 4)
    header.set_qform(np.eye(4) if affine is None else affine, 4)
    header.set_data_offset(header.single_vox_offset)
    header.set_slope_inter(1.0, 0.0)
    header["xyzt_units"] = 2 + 8
    header["pixdim"][4] = 2.0
    path = Path(path)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header.binaryblock + b"\0" * (int(header.single_vox_offset) - header.sizeof_hdr))
        for t in range(volumes):
            out.write(np.asarray(volume_at(t), dtype=dtype).tobytes(order="F"))
    return path


def mni_blobs_data(blobs, voxel_mm: float = 2.0, *, noise: float = 0.0, seed: int = 0,
                   brain: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A Z map on FSL's MNI grid: a Gaussian blob (sd 4 mm) of the given height at each MNI point (mm).

    ``blobs`` is [((x, y, z), height), ...]; a negative height makes a negative blob. ``brain`` > 0 adds
    that much uniform noise inside a brain-sized ellipsoid (as ``mni_like_data``), so the map covers the MNI
    brain and is not flagged ``not_mni``; ``noise`` adds Gaussian noise everywhere.
    """
    affine = mni_affine(voxel_mm)
    shape = mni_shape(voxel_mm)
    mm = _mm_grid(shape, affine)
    data = np.zeros(shape, dtype=np.float32)
    if brain:
        inside = (((mm[0] / 74) ** 2 + ((mm[1] + 18) / 100) ** 2 + ((mm[2] - 12) / 82) ** 2) <= 1)
        data += np.where(inside, np.random.default_rng(seed).uniform(-brain, brain, shape), 0).astype(np.float32)
    for centre, height in blobs:
        data += (height * _blob(mm, centre, 4.0)).astype(np.float32)
    if noise:
        data += np.random.default_rng(seed).normal(0, noise, shape).astype(np.float32)
    return data, affine


def _mm_grid(shape, affine) -> np.ndarray:
    ijk = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape((3,) + tuple(shape))


def _blob(mm: np.ndarray, centre, sigma: float) -> np.ndarray:
    distance2 = sum((mm[a] - centre[a]) ** 2 for a in range(3))
    return np.exp(-distance2 / (2 * sigma**2))


# --------------------------------------------------------------------------
# raw bytes

def read_raw(path) -> bytes:
    """The file's bytes, decompressed when they are gzip."""
    payload = Path(path).read_bytes()
    return gzip.decompress(payload) if payload[:2] == GZIP_MAGIC else payload


def write_raw(path, payload: bytes, *, gz: bool = False) -> Path:
    path = Path(path)
    path.write_bytes(gzip.compress(payload, compresslevel=1) if gz else payload)
    return path


def set_header_fields(path, out=None, **fields) -> Path:
    """A copy of ``path`` (same compression) with raw header fields replaced, unchecked."""
    stored = Path(path).read_bytes()
    gz = stored[:2] == GZIP_MAGIC
    return write_raw(out or path, _with_fields(read_raw(path), **fields), gz=gz)


def header_layout(payload: bytes) -> tuple[np.dtype, int]:
    """The numpy dtype (with byte order) of the header at the start of ``payload``, and its size."""
    for dtype in (nifti1.header_dtype, nifti2.header_dtype):
        for order in ("<", ">"):
            typed = dtype.newbyteorder(order)
            if np.frombuffer(payload[:4], dtype=typed["sizeof_hdr"])[0] == dtype.itemsize:
                return typed, dtype.itemsize
    raise ValueError("not a NIfTI header")


def _with_fields(payload: bytes, **fields) -> bytes:
    dtype, size = header_layout(payload)
    header = np.frombuffer(payload[:size], dtype=dtype).copy()
    for name, value in fields.items():
        header[0][name] = value
    return header.tobytes() + payload[size:]


def truncate(path, out, keep_bytes: int) -> Path:
    """The first ``keep_bytes`` stored bytes (for a .nii.gz: a cut gzip stream)."""
    out = Path(out)
    out.write_bytes(Path(path).read_bytes()[:keep_bytes])
    return out


def mutate_bytes(path, out, changes: dict[int, int]) -> Path:
    """A copy with single decompressed bytes replaced (offset -> new byte value)."""
    payload = bytearray(read_raw(path))
    for offset, value in changes.items():
        payload[offset] = value
    return write_raw(out, bytes(payload), gz=Path(path).read_bytes()[:2] == GZIP_MAGIC)


def gzip_bomb(path, claimed_shape=(2000, 1000, 1000), zero_bytes: int = 8 * 2**20) -> Path:
    """A small gzip file: a float32 header claiming ``claimed_shape`` then ``zero_bytes`` of zeros."""
    header = nifti1.Nifti1Header()
    header.set_data_shape(claimed_shape)
    header.set_data_dtype(np.float32)
    header.set_data_offset(352)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(2**20)
    with open(path, "wb") as fh:
        fh.write(compressor.compress(header.binaryblock + b"\0" * 4))
        for start in range(0, zero_bytes, len(chunk)):
            fh.write(compressor.compress(chunk[:zero_bytes - start]))
        fh.write(compressor.flush())
    return Path(path)


def html_page(path) -> Path:
    return write_raw(path, b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                           b"<body><p>Please sign in to download this file.</p></body></html>\n")


def dicom_like(path) -> Path:
    """A DICOM preamble: 128 zero bytes, 'DICM', then a group 0002 element."""
    return write_raw(path, b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xc4\x00\x00\x00" + bytes(400))


def random_bytes(path, n: int = 4096, seed: int = 0) -> Path:
    payload = bytearray(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    payload[:4] = (123456).to_bytes(4, "little")
    return write_raw(path, bytes(payload))


def empty_file(path) -> Path:
    return write_raw(path, b"")


def analyze_hdr(path) -> Path:
    """An Analyze 7.5 header alone, as a .hdr without its .img."""
    header = nib.AnalyzeHeader()
    header.set_data_shape((10, 10, 10))
    header.set_data_dtype(np.int16)
    return write_raw(path, header.binaryblock)


def nifti_pair_hdr(path) -> Path:
    """The .hdr half of a NIfTI pair (magic 'ni1'), without the .img."""
    header = nifti1.Nifti1PairHeader()
    header.set_data_shape((10, 10, 10))
    header.set_data_dtype(np.float32)
    return write_raw(path, header.binaryblock)


def small_map(path, shape=(20, 24, 20), seed: int = 0, **kwargs) -> Path:
    """A cheap signed float32 map with an identity-like 2 mm affine."""
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    return make_nifti(path, data, affine, **kwargs)


def file_size(path) -> int:
    return os.path.getsize(path)
