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
* scl_slope = 0 means "no scaling" (the NIfTI standard), and so does a NaN
  or infinite slope (as nibabel reads it); a NaN or infinite intercept under
  a real slope is refused.
* sform_code = qform_code = 0 is accepted with a warning, using the voxel
  sizes alone (nibabel's fallback).
* voxel sizes (pixdim) that are negative or zero, where the qform or the
  fallback uses them, are read as nibabel reads them (magnitude; zero as 1),
  with a warning (docs/decisions/0031-awkward-files.md).

Every failure is an ``InvalidNifti``; nothing else leaves this module.
"""

from __future__ import annotations

import numpy as np

from .checks import CHECKS, STREAM_CHECKS
from .findings import (
    DEFAULT_MAX_ARRAY_BYTES,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_VOXELS,
    ERROR,
    GIB,
    INFO,
    WARNING,
    Finding,
    InvalidNifti,
    Report,
    findings_from_counts,
    value_findings,
)
from .reader import _guarded, _inspect, _inspect_and_load
from .volumes import Series

__all__ = [
    "CHECKS", "DEFAULT_MAX_ARRAY_BYTES", "DEFAULT_MAX_DECOMPRESSED_BYTES", "DEFAULT_MAX_VOXELS", "ERROR", "GIB",
    "INFO", "STREAM_CHECKS", "WARNING", "Finding", "InvalidNifti", "Report", "Series", "findings_from_counts",
    "inspect", "inspect_and_load", "load_data", "open_series", "value_findings",
]


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
